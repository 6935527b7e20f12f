package ocitest_test

import (
	"context"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
)

// A registry with token auth and latency stands for a real one: ten
// workers sharing one client over ten repositories cost it one ping and one
// token per repository.
func ExampleWithTokenAuth() {
	ctx := context.Background()
	reg := ocitest.New(ocitest.WithTokenAuth("user", "pass"), ocitest.WithLatency(2*time.Millisecond))
	defer reg.Close()
	for i := range 10 {
		if _, err := reg.PushBytes(ctx, fmt.Sprintf("app%d:v1", i), oci.MediaTypeFluxContent, []byte("content")); err != nil {
			log.Fatal(err)
		}
	}
	reg.ResetRequests()

	client := reg.Client()
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := client.Resolve(ctx, reg.Ref(fmt.Sprintf("app%d:v1", i))); err != nil {
				log.Print(err)
			}
		}()
	}
	wg.Wait()
	fmt.Println("pings:", reg.Pings())
	// The client merges token exchanges asked for at the same time.
	fmt.Println("token requests for 10 repositories, at most 2:", reg.TokenRequests() <= 2)
	// Output:
	// pings: 1
	// token requests for 10 repositories, at most 2: true
}
