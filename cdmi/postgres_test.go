package cdmi

import (
	"os"
	"testing"
)

// TestPostgres runs the behaviour tests against PostgreSQL (the several-
// processes setup) when OCCICDMI_TEST_POSTGRES names one, e.g. from
// `eval "$(scripts/testenv.sh env postgres)"`.
func TestPostgres(t *testing.T) {
	dsn := os.Getenv("OCCICDMI_TEST_POSTGRES")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("OCCICDMI_TEST_POSTGRES is not set (CI=true: a missing service is a failure)")
		}
		t.Skip("OCCICDMI_TEST_POSTGRES not set; run scripts/testenv.sh up postgres and eval its env")
	}
	pgDSN = dsn
	defer func() { pgDSN = "" }()
	for name, fn := range map[string]func(*testing.T){
		"Smoke": TestSmoke, "Names": TestNames, "DataObjectLifecycle": TestDataObjectLifecycle,
		"Ranges": TestRanges, "PartialUpload": TestPartialUpload, "Post": TestPost,
		"CopyMoveReference": TestCopyMoveReference, "Queue": TestQueue, "Domains": TestDomains,
		"CapabilityURIs": TestCapabilityURIs, "Exports": TestExports, "ValueHash": TestValueHash,
		"ACLStoredAndInherited": TestACLStoredAndInherited, "Sweep": TestSweep, "CDMI2": TestCDMI2,
		"ConcurrentWrites": TestConcurrentWrites, "UpdateByID": TestUpdateByID, "MediaTypes": TestMediaTypes, "ChildrenPaging": TestChildrenPaging,
	} {
		t.Run(name, fn)
	}
}
