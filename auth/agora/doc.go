// Package agora builds, parses and verifies Agora RTC tokens, byte-exact with
// Agora's own open-source builders (AgoraIO/Tools, DynamicKey/AgoraDynamicKey).
//
// All integers are little-endian. "string(x)" below is a u16 byte length
// followed by the bytes; "map" is a u16 count followed by (u16 key, u32 value)
// pairs sorted by key. A numeric uid is written as its decimal string, and uid
// 0 ("any user") as the empty string; see [UIDString].
//
// # AccessToken2 ("007")
//
//	token        = "007" + base64(zlib(string(signature) + signing_info))
//	signing_info = string(app_id) + u32 issue_ts + u32 expire + u32 salt
//	             + u16 service_count + services sorted by type
//	rtc_service  = u16 type (1) + map(privilege -> seconds after issue_ts)
//	             + string(channel) + string(uid)
//	signing_key  = HMAC-SHA256(key = u32 salt,
//	                   HMAC-SHA256(key = u32 issue_ts, app_certificate))
//	signature    = HMAC-SHA256(key = signing_key, signing_info)
//
// The HMAC keys are the 4-byte little-endian encodings of issue_ts and salt;
// the app certificate is used as its ASCII text, not hex-decoded. expire is
// the token's lifetime in seconds after issue_ts. Base64 is standard with
// padding; zlib is Go's compress/zlib at the default level, which is what
// reproduces Agora's test vector. Parsing accepts any valid zlib stream,
// since the signature covers the decompressed bytes only.
//
// # AccessToken ("006")
//
//	token     = "006" + app_id + base64(content)
//	content   = string(signature) + u32 crc32(channel) + u32 crc32(uid)
//	          + string(message)
//	message   = u32 salt + u32 ts + map(privilege -> absolute unix expiry)
//	signature = HMAC-SHA256(key = app_certificate, app_id + channel + uid + message)
//
// crc32 is IEEE. A 006 token carries only checksums of its channel and uid,
// so verifying it needs them from the caller: see [VerifyFor].
//
// Builders are pure: salt and timestamps are inputs ([NewSalt] draws a salt).
// Verification checks signatures only; whether a token has expired is for
// the caller, from the fields of [Parsed].
package agora
