package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// The README's first command must keep telling its story.
func TestQuickstart(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"fetched    6.6.0@sha256:",
		"verified legacy signature by key",
		"verified bundle signature by https://github.com/stefanprodan/podinfo/",
		"file     deployment.yaml version: 6.6.0",
		"file     service.yaml kind: Service",
		"attacker's 6.7.0",
		"no trusted key verifies it: key 1:",
		"rejected=true (verification failed: true)",
		"rejected=true (digest mismatch: true)",
		"from cache=true with 1 HTTP request(s)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "cryptominer") {
		t.Errorf("the attacker's content reached the directory:\n%s", out.String())
	}
}
