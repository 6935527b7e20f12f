package sigstorestack

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"strings"
	"testing"
)

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// The issuer serves what an OIDC relying party (Fulcio) reads, and its
// tokens verify with the key it publishes and carry the claims Fulcio maps.
func TestIssuer(t *testing.T) {
	iss, err := newIssuer()
	if err != nil {
		t.Fatal(err)
	}
	defer iss.Close()
	wf := Workflow{Repository: "org/app", WorkflowPath: ".github/workflows/release.yml", Ref: "refs/heads/main"}
	wfToken, err := iss.WorkflowToken(wf)
	if err != nil {
		t.Fatal(err)
	}
	emailToken, err := iss.EmailToken("release@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iss.WorkflowToken(Workflow{Repository: "org/app"}); err == nil {
		t.Error("WorkflowToken without a workflow path and ref succeeded")
	}
	for _, tc := range []struct {
		issuer, token string
		want          map[string]any
	}{
		{iss.EmailIssuer(), emailToken, map[string]any{"email": "release@example.com", "email_verified": true, "sub": "release@example.com"}},
		{iss.WorkflowIssuer(), wfToken, map[string]any{"sub": "repo:org/app:ref:refs/heads/main", "job_workflow_ref": "org/app/.github/workflows/release.yml@refs/heads/main", "event_name": "push"}},
	} {
		var disc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		getJSON(t, tc.issuer+"/.well-known/openid-configuration", &disc)
		if disc.Issuer != tc.issuer || !strings.HasPrefix(disc.JWKSURI, tc.issuer+"/") {
			t.Errorf("discovery of %s = %+v", tc.issuer, disc)
		}
		var jwks struct {
			Keys []struct{ Kid, N, E string } `json:"keys"`
		}
		getJSON(t, disc.JWKSURI, &jwks)
		if len(jwks.Keys) != 1 {
			t.Fatalf("JWKS of %s has %d keys, want 1", tc.issuer, len(jwks.Keys))
		}
		n, _ := base64.RawURLEncoding.DecodeString(jwks.Keys[0].N)
		e, _ := base64.RawURLEncoding.DecodeString(jwks.Keys[0].E)
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}

		parts := strings.Split(tc.token, ".")
		if len(parts) != 3 {
			t.Fatalf("token has %d parts", len(parts))
		}
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
			t.Errorf("token of %s does not verify with the published key: %v", tc.issuer, err)
		}
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var claims map[string]any
		if err := json.Unmarshal(payload, &claims); err != nil {
			t.Fatal(err)
		}
		if claims["iss"] != tc.issuer || claims["aud"] != Audience {
			t.Errorf("iss %v aud %v, want %s %s", claims["iss"], claims["aud"], tc.issuer, Audience)
		}
		for k, v := range tc.want {
			if claims[k] != v {
				t.Errorf("claim %s = %v, want %v", k, claims[k], v)
			}
		}
	}
}
