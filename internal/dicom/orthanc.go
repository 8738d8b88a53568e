package dicom

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// OrthancID is the identifier Orthanc gives an instance: SHA-1 of
// "PatientID|StudyInstanceUID|SeriesInstanceUID|SOPInstanceUID", written as
// five dash-separated groups of 8 hex digits (Orthanc's DicomInstanceHasher).
func OrthancID(patientID, studyUID, seriesUID, sopInstanceUID string) string {
	h := sha1.Sum([]byte(patientID + "|" + studyUID + "|" + seriesUID + "|" + sopInstanceUID))
	parts := make([]string, 5)
	for i := range parts {
		parts[i] = fmt.Sprintf("%08x", binary.BigEndian.Uint32(h[4*i:]))
	}
	return strings.Join(parts, "-")
}

// Orthanc is a client of the part of Orthanc's REST API that stores, lists,
// fetches and checks instances. URL is the API's base (http://host:port);
// User and Password authenticate with HTTP basic auth when User is set.
type Orthanc struct {
	URL            string
	User, Password string
	// HTTP is the client used; nil means http.DefaultClient.
	HTTP *http.Client
}

// Stored is Orthanc's answer to a stored instance.
type Stored struct {
	ID            string
	Status        string // "Success" or "AlreadyStored"
	ParentPatient string
	ParentStudy   string
	ParentSeries  string
}

// Statistics is the part of Orthanc's /statistics used here. TotalDiskSize
// counts the bytes of every attachment in the storage area.
type Statistics struct {
	CountPatients  int
	CountStudies   int
	CountSeries    int
	CountInstances int
	TotalDiskSize  json.Number
}

// HTTPError is an answer of Orthanc with a status other than 2xx.
type HTTPError struct {
	Method, URL string
	Status      int
	Body        string
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("%s %s: HTTP %d", e.Method, e.URL, e.Status)
	if b := strings.TrimSpace(e.Body); b != "" {
		if len(b) > 300 {
			b = b[:300] + "..."
		}
		msg += ": " + b
	}
	if e.Status == http.StatusUnauthorized {
		msg += " (check the REST user and password: the instance's secrets/admin_password)"
	}
	return msg
}

// Reason is Orthanc's message of an error answer (its JSON "Message",
// with "Details" when given), else the body, shortened.
func (e *HTTPError) Reason() string {
	var b struct{ Message, Details string }
	if json.Unmarshal([]byte(e.Body), &b) == nil && b.Message != "" {
		if b.Details != "" {
			return b.Message + ": " + b.Details
		}
		return b.Message
	}
	r := strings.TrimSpace(e.Body)
	if len(r) > 200 {
		r = r[:200] + "..."
	}
	return r
}

func (o *Orthanc) do(ctx context.Context, method, path string, body []byte, ctype string) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	url := strings.TrimRight(o.URL, "/") + path
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, fmt.Errorf("make request %s %s: %w", method, url, err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if o.User != "" {
		req.SetBasicAuth(o.User, o.Password)
	}
	hc := o.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read answer of %s %s: %w", method, url, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, &HTTPError{Method: method, URL: url, Status: resp.StatusCode, Body: string(out)}
	}
	return out, nil
}

func (o *Orthanc) getJSON(ctx context.Context, path string, v any) error {
	b, err := o.do(ctx, http.MethodGet, path, nil, "")
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode answer of GET %s: %w", path, err)
	}
	return nil
}

// Store uploads one DICOM Part 10 file (POST /instances).
func (o *Orthanc) Store(ctx context.Context, data []byte) (Stored, error) {
	b, err := o.do(ctx, http.MethodPost, "/instances", data, "application/dicom")
	if err != nil {
		return Stored{}, fmt.Errorf("store instance: %w", err)
	}
	var s Stored
	if err := json.Unmarshal(b, &s); err != nil {
		return Stored{}, fmt.Errorf("store instance: decode answer: %w", err)
	}
	if s.ID == "" {
		return Stored{}, fmt.Errorf("store instance: Orthanc answered without an instance ID: %s", b)
	}
	return s, nil
}

// Instances lists the IDs of every stored instance (GET /instances).
func (o *Orthanc) Instances(ctx context.Context) ([]string, error) {
	var ids []string
	if err := o.getJSON(ctx, "/instances", &ids); err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	return ids, nil
}

// File fetches the stored DICOM file of an instance, as received
// (GET /instances/ID/file).
func (o *Orthanc) File(ctx context.Context, id string) ([]byte, error) {
	b, err := o.do(ctx, http.MethodGet, "/instances/"+id+"/file", nil, "")
	if err != nil {
		return nil, fmt.Errorf("fetch instance %s: %w", id, err)
	}
	return b, nil
}

// Delete removes an instance (DELETE /instances/ID).
func (o *Orthanc) Delete(ctx context.Context, id string) error {
	if _, err := o.do(ctx, http.MethodDelete, "/instances/"+id, nil, ""); err != nil {
		return fmt.Errorf("delete instance %s: %w", id, err)
	}
	return nil
}

// MD5 returns the MD5 Orthanc recorded in its index for the instance's
// DICOM attachment when it stored it.
func (o *Orthanc) MD5(ctx context.Context, id string) (string, error) {
	b, err := o.do(ctx, http.MethodGet, "/instances/"+id+"/attachments/dicom/md5", nil, "")
	if err != nil {
		return "", fmt.Errorf("read recorded MD5 of instance %s: %w", id, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// VerifyMD5 makes Orthanc read the instance's file from its storage area
// and compare it with the MD5 in its index; an error means the stored file
// is missing or no longer what was stored.
func (o *Orthanc) VerifyMD5(ctx context.Context, id string) error {
	if _, err := o.do(ctx, http.MethodPost, "/instances/"+id+"/attachments/dicom/verify-md5", []byte{}, ""); err != nil {
		return fmt.Errorf("verify stored file of instance %s against its recorded MD5: %w", id, err)
	}
	return nil
}

// Statistics reads Orthanc's counts of stored objects (GET /statistics).
func (o *Orthanc) Statistics(ctx context.Context) (Statistics, error) {
	var s Statistics
	if err := o.getJSON(ctx, "/statistics", &s); err != nil {
		return Statistics{}, fmt.Errorf("read statistics: %w", err)
	}
	return s, nil
}

// Ping checks that the REST API answers with these credentials
// (GET /system).
func (o *Orthanc) Ping(ctx context.Context) error {
	if _, err := o.do(ctx, http.MethodGet, "/system", nil, ""); err != nil {
		return fmt.Errorf("ping Orthanc: %w", err)
	}
	return nil
}
