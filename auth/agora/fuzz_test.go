package agora

import (
	"errors"
	"testing"
)

// FuzzParse checks that Parse, Verify and VerifyFor never panic, and that
// whatever Parse accepts has a known format and a 32-byte signature.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		vector007, vector007UID0, vector007Python, vector007RTCAndRTM,
		vector006, vector006UID0, "", "007", "006", "007eJw=", "006" + testCreds.AppID,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		p, err := Parse(token)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("Parse error %v is neither ErrMalformed nor ErrUnsupported", err)
			}
			return
		}
		if (p.Format != Format006 && p.Format != Format007) || len(p.Signature) != 32 {
			t.Fatalf("Parse(%q) = %+v", token, p)
		}
		Verify(token, testCreds.AppCertificate)
		VerifyFor(token, testCreds.AppCertificate, p.Channel, p.UID)
	})
}
