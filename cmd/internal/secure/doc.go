// Package secure wires TLS and authentication into cpgw's servers. It turns
// the files an operator configures (certificates and keys, the cluster CA, a
// JWKS, an RBAC policy, an audit log path) into tls.Configs, the gateway's
// authenticating and authorising middleware, and the loops that reload each
// file when it changes, so rotating a certificate, a signing key or the
// policy needs no restart.
//
// The trust model:
//   - Clients reach a gateway over TLS and present a bearer JWT or a client
//     certificate that chains to the client CA; RBAC decides what they may do.
//   - A gateway reaches coordinators over mTLS only: a coordinator accepts a
//     client certificate only if it chains to the cluster CA and carries a
//     gateway identity (certs.GatewayURIPrefix), and a gateway accepts a
//     coordinator only if its certificate chains to the cluster CA and
//     carries a coordinator identity.
//
// What it does not do: it does not check certificate revocation (short-lived
// certificates and rotation are the answer), and a coordinator trusts any
// gateway identity the cluster CA signed.
//
// Dev generates a complete set of this material for cpgw dev.
package secure
