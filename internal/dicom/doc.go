// Package dicom makes and reads the DICOM data Dockerbank uses to prove a
// DICOM archive (Orthanc) end to end: a generator of valid, deterministic
// DICOM Part 10 files (synthetic patients, never real ones), a small reader
// for the files it writes, and a client for the part of Orthanc's REST API
// that stores, lists and fetches instances.
//
// It is product code: `bank test`, the fingerprints of DICOM archives and the
// Orthanc benchmark use it. It must not import internal/engine or any job
// package; running storescu inside a container is the caller's business.
package dicom
