package realregistry_test

import (
	"fmt"
	"os"

	"github.com/ocisource/ocisource/internal/realregistry"
)

// The configuration Start hands to `registry serve`, rendered for fixed paths.
func ExampleConfig_YAML() {
	cfg := realregistry.Config{
		Addr:          "127.0.0.1:5000",
		RootDirectory: "/tmp/reg/storage",
		Certificate:   "/tmp/reg/server.pem",
		Key:           "/tmp/reg/server-key.pem",
		HtpasswdPath:  "/tmp/reg/htpasswd",
		Secret:        "not-random-in-this-example",
	}
	os.Stdout.Write(cfg.YAML())
	// Output:
	// version: 0.1
	// log:
	//   level: warn
	//   accesslog:
	//     disabled: true
	// storage:
	//   filesystem:
	//     rootdirectory: "/tmp/reg/storage"
	//   delete:
	//     enabled: true
	//   maintenance:
	//     uploadpurging:
	//       enabled: false
	// http:
	//   addr: "127.0.0.1:5000"
	//   secret: "not-random-in-this-example"
	//   tls:
	//     certificate: "/tmp/reg/server.pem"
	//     key: "/tmp/reg/server-key.pem"
	//     minimumtls: tls1.2
	// auth:
	//   htpasswd:
	//     realm: "ocisource-test"
	//     path: "/tmp/reg/htpasswd"
}

// The Docker config Start writes to Registry.DockerConfigDir, for CLI tools
// such as cosign (DOCKER_CONFIG=dir).
func ExampleDockerConfigJSON() {
	out, err := realregistry.DockerConfigJSON("127.0.0.1:5000", "ocisource", "secret")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(out))
	// Output:
	// {
	// 	"auths": {
	// 		"127.0.0.1:5000": {
	// 			"auth": "b2Npc291cmNlOnNlY3JldA=="
	// 		}
	// 	}
	// }
}
