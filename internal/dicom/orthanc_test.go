package dicom_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dockerbank/dockerbank/internal/dicom"
)

// TestOrthancClient checks the client's requests and error messages
// against a stand-in server; the real Orthanc is exercised by the
// integration tests in internal/backup.
func TestOrthancClient(t *testing.T) {
	in := dicom.Set{Seed: 4, Rows: 2, Columns: 2}.Instance(0)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || user != "admin" || pass != "s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch r.Method + " " + r.URL.Path {
		case "POST /instances":
			body, _ := io.ReadAll(r.Body)
			if string(body) != string(in.Data) || r.Header.Get("Content-Type") != "application/dicom" {
				http.Error(w, "bad body", http.StatusBadRequest)
				return
			}
			io.WriteString(w, `{"ID":"`+in.OrthancID()+`","Status":"Success","ParentSeries":"s"}`)
		case "GET /instances":
			io.WriteString(w, `["`+in.OrthancID()+`"]`)
		case "GET /statistics":
			io.WriteString(w, `{"CountInstances":1,"CountPatients":1,"CountSeries":1,"CountStudies":1,"TotalDiskSize":"4242"}`)
		default:
			http.Error(w, `{"Message":"Unknown resource"}`, http.StatusNotFound)
		}
	}))
	defer srv.Close()
	o := &dicom.Orthanc{URL: srv.URL, User: "admin", Password: "s3cret"}
	ctx := t.Context()
	st, err := o.Store(ctx, in.Data)
	if err != nil || st.ID != in.OrthancID() || st.Status != "Success" {
		t.Fatalf("Store = %+v, %v", st, err)
	}
	ids, err := o.Instances(ctx)
	if err != nil || len(ids) != 1 || ids[0] != in.OrthancID() {
		t.Fatalf("Instances = %v, %v", ids, err)
	}
	stats, err := o.Statistics(ctx)
	if err != nil || stats.CountInstances != 1 || stats.TotalDiskSize.String() != "4242" {
		t.Fatalf("Statistics = %+v, %v", stats, err)
	}
	_, err = o.File(ctx, "nope")
	var he *dicom.HTTPError
	if !errors.As(err, &he) || he.Status != 404 || !strings.Contains(err.Error(), "fetch instance nope") {
		t.Fatalf("File of a missing instance: %v", err)
	}
	bad := &dicom.Orthanc{URL: srv.URL, User: "admin", Password: "wrong"}
	if err := bad.Ping(ctx); err == nil || !strings.Contains(err.Error(), "admin_password") {
		t.Fatalf("Ping with a wrong password: %v, want a hint at the password", err)
	}
}

func TestOrthancID(t *testing.T) {
	id := dicom.OrthancID("p", "st", "se", "i")
	if len(id) != 44 || strings.Count(id, "-") != 4 {
		t.Fatalf("OrthancID = %q, want 5 groups of 8 hex digits", id)
	}
}
