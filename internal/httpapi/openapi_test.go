package httpapi_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/gin-gonic/gin"

	"github.com/reportit/reportit/internal/httpapi"
)

// TestOpenAPIMatchesRouter keeps api/openapi.yaml in step with the router:
// every route is documented, every documented path is served, and the
// problem codes listed are exactly those the API can answer with.
func TestOpenAPIMatchesRouter(t *testing.T) {
	raw, err := os.ReadFile("../../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths      map[string]map[string]any `yaml:"paths"`
		Components struct {
			Schemas struct {
				Problem struct {
					Properties struct {
						Type struct {
							Codes []string `yaml:"x-problem-codes"`
						} `yaml:"type"`
					} `yaml:"properties"`
				} `yaml:"Problem"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	e := newEnv(t, options{})
	param := regexp.MustCompile(`:([a-z_]+)`)
	var served []string
	for _, r := range e.handler.(*gin.Engine).Routes() {
		served = append(served, r.Method+" "+param.ReplaceAllString(r.Path, "{$1}"))
	}
	slices.Sort(documented)
	slices.Sort(served)
	if !slices.Equal(documented, served) {
		t.Errorf("openapi.yaml and router differ\ndocumented: %v\nserved:     %v", documented, served)
	}

	var codes []string
	for _, c := range httpapi.ProblemCodes() {
		codes = append(codes, string(c))
	}
	listed := doc.Components.Schemas.Problem.Properties.Type.Codes
	slices.Sort(codes)
	slices.Sort(listed)
	if !slices.Equal(codes, listed) {
		t.Errorf("problem codes differ\nlisted in openapi.yaml: %v\nanswered by the API:    %v", listed, codes)
	}
}
