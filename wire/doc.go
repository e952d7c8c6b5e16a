// Package wire defines vai's transactions as they travel and are signed: a
// DSSE-style envelope around a JSON body, with ed25519 signatures over DSSE's
// pre-authentication encoding (PAE).
//
// # Envelope
//
// A transaction on the wire is the compact JSON object
//
//	{"payloadType":"application/vnd.vai.tx+json","payload":"<base64>","signatures":[{"sig":"<base64>"}]}
//
// written exactly in that form: these keys in this order, no white space,
// standard padded base64. DSSE's optional keyid is left out: the signed body
// names the signer and carries the public key, and an envelope with a keyid
// is refused. The envelope is the only part that is not signed, so
// [Decode] rejects any other spelling of it; that makes the transaction hash
// (SHA-256 of the envelope bytes, as CometBFT computes it) a function of the
// signed content alone.
//
// The payload is the JSON [Body] exactly as signed. It is never re-serialised
// before verification: the signature covers
//
//	PAE(type, body) = "DSSEv1" SP len(type) SP type SP len(body) SP body
//
// with decimal byte lengths. Any client in any language can build a
// transaction with a JSON library, base64 and an ed25519 signer; the test
// vectors in testdata/vectors.json pin the format.
//
// # Strict decoding
//
// The body is decoded strictly: invalid UTF-8, duplicate or unknown object
// members (names match case-sensitively), trailing data, numbers that are not
// plain non-negative integers, and oversized input are all errors. Every
// failure wraps one of the Err* sentinels so callers can map it to a code.
//
// # Addresses and coins
//
// An [Address] is the first 20 bytes of SHA-256(ed25519 public key), written
// as bech32 with the prefix "vai". A [Coin] is an integer amount of the base
// unit uvai (1 vai = 10^6 uvai), written "2500uvai" or "1.5vai".
package wire
