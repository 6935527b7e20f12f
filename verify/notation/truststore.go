package notation

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"

	"github.com/notaryproject/notation-go/verifier/truststore"
)

var storeNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]+$`)

func validStoreName(name string) bool { return storeNameRE.MatchString(name) }

func validStoreType(t StoreType) bool {
	return t == StoreCA || t == StoreSigningAuthority || t == StoreTSA
}

func ioLimit(r io.Reader, n int64) io.Reader { return io.LimitReader(r, n) }

// storeKey is "type:name", as trust policies name stores.
type storeKey string

func keyOf(t StoreType, name string) storeKey { return storeKey(string(t) + ":" + name) }

// memStore is an in-memory truststore.X509TrustStore: notation-go asks it
// for the certificates of the stores a trust policy statement names. It is
// built in New and never changes.
type memStore struct {
	certs map[storeKey][]*x509.Certificate
}

var _ truststore.X509TrustStore = (*memStore)(nil)

// GetCertificates implements truststore.X509TrustStore.
func (s *memStore) GetCertificates(_ context.Context, t truststore.Type, name string) ([]*x509.Certificate, error) {
	certs := s.certs[keyOf(t, name)]
	if len(certs) == 0 {
		return nil, truststore.TrustStoreError{Msg: fmt.Sprintf("the trust store %q of type %q has no certificates", name, t)}
	}
	return append([]*x509.Certificate(nil), certs...), nil
}

// keys returns the stores, sorted.
func (s *memStore) keys() []storeKey {
	ks := make([]storeKey, 0, len(s.certs))
	for k := range s.certs {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i] < ks[j] })
	return ks
}

// parseCertificates parses c: PEM (CERTIFICATE blocks only) or one DER
// certificate.
func parseCertificates(c certInput) ([]*x509.Certificate, error) {
	data := bytes.TrimSpace(c.data)
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: %s: empty certificate", ErrInvalidTrustStore, c.source)
	}
	if len(c.data) > MaxCertificateFileSize {
		return nil, fmt.Errorf("%w: %s: %d bytes, the limit is %d", ErrInvalidTrustStore, c.source, len(c.data), MaxCertificateFileSize)
	}
	if !bytes.HasPrefix(data, []byte("-----BEGIN")) {
		cert, err := x509.ParseCertificate(data)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: neither PEM nor a DER certificate: %w", ErrInvalidTrustStore, c.source, err)
		}
		return []*x509.Certificate{cert}, nil
	}
	var out []*x509.Certificate
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%w: %s: PEM block %q is not a CERTIFICATE", ErrInvalidTrustStore, c.source, block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: certificate %d: %w", ErrInvalidTrustStore, c.source, len(out)+1, err)
		}
		out = append(out, cert)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: %s: trailing data after the PEM blocks", ErrInvalidTrustStore, c.source)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s: no certificate", ErrInvalidTrustStore, c.source)
	}
	return out, nil
}

// checkStoreCerts applies notation's rules for trusted certificates: CA or
// self-signed in ca and signingAuthority stores, root CAs in tsa stores.
func checkStoreCerts(t StoreType, source string, certs []*x509.Certificate) error {
	if err := truststore.ValidateCertificates(certs); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInvalidTrustStore, source, err)
	}
	if t != StoreTSA {
		return nil
	}
	for _, c := range certs {
		if !bytes.Equal(c.RawSubject, c.RawIssuer) || c.CheckSignatureFrom(c) != nil {
			return fmt.Errorf("%w: %s: certificate %q of a tsa store must be a root CA certificate", ErrInvalidTrustStore, source, c.Subject)
		}
	}
	return nil
}

// readStoreDir reads dir/x509/<type>/<name>/<files>.
func readStoreDir(dir string) ([]storeInput, error) {
	root := filepath.Join(dir, "x509")
	if fi, err := os.Lstat(root); err != nil || !fi.IsDir() {
		if err == nil {
			err = errors.New("not a directory")
		}
		return nil, fmt.Errorf("%w: WithTrustStoreDir: %s: %w (want <dir>/x509/<ca|signingAuthority|tsa>/<name>/<certificates>)", ErrInvalidTrustStore, root, err)
	}
	types, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("%w: WithTrustStoreDir: %w", ErrInvalidTrustStore, err)
	}
	var out []storeInput
	for _, te := range types {
		t := StoreType(te.Name())
		tdir := filepath.Join(root, te.Name())
		if !te.IsDir() || te.Type()&os.ModeSymlink != 0 || !validStoreType(t) {
			return nil, fmt.Errorf("%w: WithTrustStoreDir: %s: want only the directories ca, signingAuthority and tsa (no links)", ErrInvalidTrustStore, tdir)
		}
		names, err := os.ReadDir(tdir)
		if err != nil {
			return nil, fmt.Errorf("%w: WithTrustStoreDir: %w", ErrInvalidTrustStore, err)
		}
		for _, ne := range names {
			sdir := filepath.Join(tdir, ne.Name())
			if !ne.IsDir() || ne.Type()&os.ModeSymlink != 0 || !validStoreName(ne.Name()) {
				return nil, fmt.Errorf("%w: WithTrustStoreDir: %s: a store is a directory named [a-zA-Z0-9_.-]+ (no links)", ErrInvalidTrustStore, sdir)
			}
			files, err := os.ReadDir(sdir)
			if err != nil {
				return nil, fmt.Errorf("%w: WithTrustStoreDir: %w", ErrInvalidTrustStore, err)
			}
			in := storeInput{typ: t, name: ne.Name()}
			for _, fe := range files {
				p := filepath.Join(sdir, fe.Name())
				if !fe.Type().IsRegular() {
					return nil, fmt.Errorf("%w: WithTrustStoreDir: %s is not a regular file (directories and links are refused)", ErrInvalidTrustStore, p)
				}
				b, err := readBounded(p, MaxCertificateFileSize)
				if err != nil {
					return nil, fmt.Errorf("%w: WithTrustStoreDir: %w", ErrInvalidTrustStore, err)
				}
				in.certs = append(in.certs, certInput{source: p, data: b})
			}
			if len(in.certs) == 0 {
				return nil, fmt.Errorf("%w: WithTrustStoreDir: trust store %s holds no certificate", ErrInvalidTrustStore, sdir)
			}
			out = append(out, in)
		}
	}
	return out, nil
}
