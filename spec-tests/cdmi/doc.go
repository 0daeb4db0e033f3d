// Package cdmi is the black-box CDMI conformance suite: its tests speak HTTP
// only, to the in-process server or to the one at OCCICDMI_URL, and check
// CDMI 1.1.1 (ISO/IEC 17826) behaviour clause by clause, with the CDMI 2.0
// compatibility the server promises. The root container is at <url>/cdmi,
// or at the path OCCICDMI_CDMI_ROOT names.
//
// Every test makes its own uniquely named container under the root and
// deletes it afterwards, so the suite runs against a server with other
// content. OCCICDMI_SPEC_LARGE=1 adds a 1 GiB streaming round trip.
package cdmi
