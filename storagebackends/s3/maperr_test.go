package s3

import (
	"testing"

	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// A quota the store enforces (radosgw's QuotaExceeded) is 507, not 503.
func TestQuotaIsNoSpace(t *testing.T) {
	err := mapErr("put", "k", &smithy.GenericAPIError{Code: "QuotaExceeded", Message: "quota"})
	assert.Equal(t, kind.NoSpace, kind.Of(err))
	assert.Equal(t, kind.NoSpace, kind.Of(mapErr("put", "k", err)), "mapped twice, the kind stays")
}
