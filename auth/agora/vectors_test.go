package agora

import (
	"errors"
	"maps"
	"reflect"
	"testing"
)

// Inputs shared by Agora's own test suites (AgoraIO/Tools, AgoraDynamicKey).
var (
	testCreds = Credentials{
		AppID:          "970CA35de60c44645bbae8a215061b33",
		AppCertificate: "5CFd2fd1755d40ecb72977518be15d3b",
	}
	testChannel = "7d72365eb983485397e3e3f9d460bdda"
)

const (
	testUID     = uint32(2882341273)
	testSalt    = uint32(1)
	testIssueTS = uint32(1111111)
)

// Vectors from Agora's test suites.
const (
	// accesstoken2 Test_AssessToken_ServiceRtc: join 600 s, expire 600.
	vector007 = "007eJxSYBBbsMMnKq7p9Hf/HcIX5kce9b518kCiQgSr5Zrp4X1Tu6UUGCzNDZwdjU1TUs0Mkk1MzExMk5ISUy0SjQxNDcwMk4yN3b8IMEQwMTAwMoAwBIL4CgzmKeZGxmamqUmWFsYmFqbGluapxqnGaZYpJmYGSSkpiVwMRhYWRsYmhkbmxoAAAAD//8JqJOM="
	// accesstoken2 Test_AssessToken_ServiceRtc_Uid0: as above with uid 0.
	vector007UID0 = "007eJxSYLhzZP08Lxa1Pg57+TcXb/3cZ3wi4V6kbpbOog0G2dOYk20UGCzNDZwdjU1TUs0Mkk1MzExMk5ISUy0SjQxNDcwMk4yN3b8IMEQwMTAwMoAwBIL4CgzmKeZGxmamqUmWFsYmFqbGluapxqnGaZYpJmYGSSkpiQwMgAAAAP//Npwiag=="
	// accesstoken2 Test_AssessToken_Parse_TokenRtc_FromPython: the first
	// vector's content compressed by Python's zlib.
	vector007Python = "007eJxTYBBbsMMnKq7p9Hf/HcIX5kce9b518kCiQgSr5Zrp4X1Tu6UUGCzNDZwdjU1TUs0Mkk1MzExMk5ISUy0SjQxNDcwMk4yN3b8IMEQwMTAwMoAwBIL4CgzmKeZGxmamqUmWFsYmFqbGluapxqnGaZYpJmYGSSkpiVwMRhYWRsYmhkbmxgDCaiTj"
	// accesstoken2 Test_AssessToken_Parse_TokenRtc_Rtm_MultiService_FromPython.
	vector007RTCAndRTM = "007eJxTYOAQsrQ5s3TfH+1tvy8zZZ46EpCc0V43JXdGd2jS8porKo4KDJbmBs6OxqYpqWYGySYmZiamSUmJqRaJRoamBmaGScbG7l8EGCKYGBgYGRgYmIAkCxCD+ExgkhlMsoBJBQbzFHMjYzPT1CRLC2MTC1NjS/NU41TjNMsUEzODpJSURC4GIwsLI2MTQyNzY5BZEJM4GUpSi0viS4tTiwAipyp4"
	// AccessToken Test_AccessToken: join until 1446455471.
	vector006 = "006970CA35de60c44645bbae8a215061b33IACV0fZUBw+72cVoL9eyGGh3Q6Poi8bgjwVLnyKSJyOXR7dIfRBXoFHlEAABAAAAR/QQAAEAAQCvKDdW"
	// AccessToken Test_AccessToken, uid 0.
	vector006UID0 = "006970CA35de60c44645bbae8a215061b33IACw1o7htY6ISdNRtku3p9tjTPi0jCKf9t49UHJhzCmL6bdIfRAAAAAAEAABAAAAR/QQAAEAAQCvKDdW"
)

func TestVectors007(t *testing.T) {
	for _, tc := range []struct {
		name  string
		uid   uint32
		token string
	}{
		{"uid", testUID, vector007},
		{"uid 0", 0, vector007UID0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := BuildToken2(testCreds, Token2Options{
				Channel:    testChannel,
				UID:        tc.uid,
				Expire:     600,
				Privileges: map[Privilege]uint32{PrivilegeJoinChannel: 600},
				Salt:       testSalt,
				IssueTS:    testIssueTS,
			})
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.token {
				t.Fatalf("BuildToken2:\n got %s\nwant %s", got, tc.token)
			}
			p, err := Verify(tc.token, testCreds.AppCertificate)
			if err != nil {
				t.Fatal(err)
			}
			want := Parsed{
				Format: Format007, AppID: testCreds.AppID, IssueTS: testIssueTS,
				Expire: 600, Salt: testSalt, Channel: testChannel, UID: UIDString(tc.uid),
				Privileges: map[Privilege]uint32{PrivilegeJoinChannel: 600},
			}
			checkParsed(t, p, want)
		})
	}
}

func TestVector007FromPython(t *testing.T) {
	p, err := VerifyFor(vector007Python, testCreds.AppCertificate, testChannel, UIDString(testUID))
	if err != nil {
		t.Fatal(err)
	}
	ours, err := Parse(vector007)
	if err != nil {
		t.Fatal(err)
	}
	checkParsed(t, p, ours)
}

func TestVector007OtherServices(t *testing.T) {
	if _, err := Parse(vector007RTCAndRTM); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Parse(RTC+RTM) = %v, want ErrUnsupported", err)
	}
}

func TestVectors006(t *testing.T) {
	for _, tc := range []struct {
		name  string
		uid   uint32
		token string
	}{
		{"uid", testUID, vector006},
		{"uid 0", 0, vector006UID0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			privs := map[Privilege]uint32{PrivilegeJoinChannel: 1446455471}
			got, err := BuildToken006(testCreds, Token1Options{
				Channel: testChannel, UID: tc.uid, Privileges: privs,
				Salt: testSalt, TS: testIssueTS,
			})
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.token {
				t.Fatalf("BuildToken006:\n got %s\nwant %s", got, tc.token)
			}
			if _, err := Verify(tc.token, testCreds.AppCertificate); !errors.Is(err, ErrChannelRequired) {
				t.Fatalf("Verify(006) = %v, want ErrChannelRequired", err)
			}
			p, err := VerifyFor(tc.token, testCreds.AppCertificate, testChannel, UIDString(tc.uid))
			if err != nil {
				t.Fatal(err)
			}
			if p.Format != Format006 || p.AppID != testCreds.AppID || p.TS != testIssueTS ||
				p.Salt != testSalt || p.Channel != testChannel || p.UID != UIDString(tc.uid) ||
				!maps.Equal(p.Privileges, privs) || len(p.Signature) != 32 {
				t.Fatalf("VerifyFor = %+v", p)
			}
		})
	}
}

// checkParsed compares p with want; of the signature it checks the length
// only.
func checkParsed(t *testing.T, p, want Parsed) {
	t.Helper()
	if len(p.Signature) != 32 {
		t.Errorf("signature is %d bytes", len(p.Signature))
	}
	p.Signature, want.Signature = nil, nil
	if !reflect.DeepEqual(p, want) {
		t.Errorf("parsed\n got %+v\nwant %+v", p, want)
	}
}
