package oci_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
)

// closedPort returns "127.0.0.1:<port>" with nothing listening.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestConnectionErrorsReadAsOne: a registry that cannot be reached gives one
// error naming its host, not a second one about plain HTTP or credentials
// (go-containerregistry probes loopback and private addresses over HTTPS and
// plain HTTP, and the guard refuses one of the two).
func TestConnectionErrorsReadAsOne(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   []oci.Option
		scheme string
	}{
		{"secure, anonymous", []oci.Option{oci.WithAnonymous()}, "HTTPS"},
		{"secure, with credentials", []oci.Option{oci.WithBasicAuth("alice", "s3cret")}, "HTTPS"},
		{"insecure, anonymous", []oci.Option{oci.WithAnonymous(), oci.WithInsecure()}, "plain HTTP"},
		{"insecure, with credentials", []oci.Option{oci.WithBasicAuth("alice", "s3cret"), oci.WithInsecure()}, "plain HTTP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := closedPort(t)
			c, err := oci.NewClient(append(tc.opts, oci.WithRetries(0, 0))...)
			if err != nil {
				t.Fatal(err)
			}
			ref, _ := oci.ParseReference(host + "/app:v1")
			_, err = c.Resolve(context.Background(), ref)
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("err = %v, want ECONNREFUSED", err)
			}
			if errors.Is(err, oci.ErrInsecureAuth) || errors.Is(err, oci.ErrPlainHTTP) {
				t.Errorf("err = %v: a refused connection is not about plain HTTP or credentials", err)
			}
			msg := err.Error()
			want := "cannot connect to registry " + host + " over " + tc.scheme
			if !strings.Contains(msg, want) {
				t.Errorf("error %q does not say %q", msg, want)
			}
			for _, noise := range []string{"credentials", "insecure", "; ", "marked"} {
				if strings.Contains(msg, noise) {
					t.Errorf("error %q holds %q: it should be one clear error", msg, noise)
				}
			}
		})
	}
}

// TestPlainHTTPRefusalIsNotAboutCredentials: a registry not marked insecure
// that speaks only plain HTTP is refused with ErrPlainHTTP, with or without
// credentials; ErrInsecureAuth is kept for credentials that would travel
// over plain HTTP (see TestTokenRealmOnOtherHost).
func TestPlainHTTPRefusalIsNotAboutCredentials(t *testing.T) {
	reg := ocitest.NewT(t)
	pushArtifact(t, reg, "app:v1", "x")
	for name, auth := range map[string]oci.Option{"anonymous": oci.WithAnonymous(), "credentials": oci.WithBasicAuth("alice", "s3cret")} {
		t.Run(name, func(t *testing.T) {
			c, err := oci.NewClient(auth, oci.WithRetries(0, 0))
			if err != nil {
				t.Fatal(err)
			}
			reg.ResetRequests()
			_, err = c.Resolve(context.Background(), reg.Ref("app:v1"))
			if !errors.Is(err, oci.ErrPlainHTTP) {
				t.Fatalf("err = %v, want ErrPlainHTTP", err)
			}
			if errors.Is(err, oci.ErrInsecureAuth) {
				t.Errorf("err = %v also matches ErrInsecureAuth", err)
			}
			if msg := err.Error(); !strings.Contains(msg, reg.Host()) || !strings.Contains(msg, "insecure") || strings.Contains(msg, "; ") {
				t.Errorf("error %q should name the host, say how to allow plain HTTP, and be one error", msg)
			}
			for _, q := range reg.Requests() {
				t.Errorf("request reached the plain-HTTP registry: %s %s", q.Method, q.Path)
			}
		})
	}
}
