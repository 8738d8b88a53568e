// Package fingerprint computes and compares fingerprints of an instance's
// data as its application sees it: per table of a database (rows and a
// checksum computed inside the database container), per file of a volume
// (size and sha256), per DICOM instance of Orthanc (listed through its REST
// API; the MD5 Orthanc recorded, proven against the stored file by
// verify-md5 or, where the entry names the index, by hashing the file on
// the storage volume). Entries declare them (entry.yaml `fingerprint:`);
// backups record one at the capture point, restores, drills and upgrades
// compute one afterwards and Compare the two. Damage the application
// reports (a stored file that no longer matches its recorded MD5) is kept
// per item apart from differences: a faithful restore of damaged data is
// no difference, but drills fail on it (DamageError).
//
// Compare and the rendering of differences are pure. Compute reaches the
// engine through the small Engine interface. It uses internal/bank and
// internal/engine's types; it must not import internal/backup,
// internal/deploy or internal/cli (they use it).
package fingerprint
