/*
 * sti_err.h — the one table of stisign error codes.
 *
 * Conventions: every function that can fail returns 0 (STI_OK) or one of
 * these codes; results travel through out-parameters. The numbers are
 * stable: they go on the wire (docs/protocol.md) and into scripts, so a code
 * is never renumbered or reused, only added. Classes by hundreds:
 *   1xx usage   2xx protocol   3xx scope   4xx hsm   5xx pki
 *   6xx verify  7xx board/store   9xx internal
 * Messages are static strings, safe from any thread.
 */
#ifndef STI_ERR_H
#define STI_ERR_H

#define STI_ERRORS(X)                                                                              \
    X(STI_OK, 0, "ok")                                                                             \
    /* usage */                                                                                    \
    X(STI_EINVAL, 100, "invalid argument")                                                         \
    X(STI_ETN, 101, "telephone number malformed (1-15 of 0-9 # * after normalisation)")           \
    X(STI_EATTEST, 102, "attest must be A, B or C")                                                \
    X(STI_EORIGID, 103, "origid is not a UUID")                                                    \
    X(STI_EIAT, 104, "iat out of range")                                                           \
    X(STI_ETOOMANY, 105, "too many values")                                                        \
    X(STI_ETOOLONG, 106, "value too long")                                                         \
    X(STI_ECONFIG, 107, "configuration error")                                                     \
    X(STI_EIO, 108, "file or device I/O error")                                                    \
    X(STI_EPINFILE, 109, "PIN file unreadable or not mode 0600/0400")                              \
    X(STI_ENOTFOUND, 110, "not found")                                                             \
    X(STI_EX5U, 111, "x5u URL not acceptable (https, no userinfo/query/fragment)")                 \
    X(STI_EEXISTS, 112, "already exists")                                                          \
    /* protocol */                                                                                 \
    X(STI_EPROTO_VERSION, 200, "unsupported protocol version")                                    \
    X(STI_EPROTO_FRAME, 201, "malformed frame")                                                    \
    X(STI_EPROTO_TOOBIG, 202, "frame larger than the maximum")                                     \
    X(STI_EPROTO_OP, 203, "unknown operation")                                                     \
    X(STI_EPROTO_FIELD, 204, "malformed or unknown field")                                         \
    X(STI_EPROTO_MISSING, 205, "required field missing")                                           \
    X(STI_EPROTO_DUP, 206, "field repeated")                                                       \
    X(STI_EBUSY, 207, "server busy, too many requests in flight")                                  \
    X(STI_EDENIED, 208, "peer not allowed")                                                        \
    X(STI_ECLOSED, 209, "connection closed")                                                       \
    X(STI_ETIMEOUT, 210, "timed out")                                                              \
    /* scope */                                                                                    \
    X(STI_ESCOPE, 300, "calling TN not in scope of any valid credential")                          \
    X(STI_ENOCRED, 301, "no valid credential")                                                     \
    X(STI_ESCOPE_SYNTAX, 302, "scope entry malformed")                                             \
    X(STI_ESCOPE_OUTSIDE, 303, "scope not contained in issuer scope")                              \
    X(STI_ESCOPE_PEER, 304, "calling TN outside this peer's allowed scope")                        \
    /* hsm */                                                                                      \
    X(STI_EHSM_MODULE, 400, "PKCS#11 module could not be loaded or initialised")                  \
    X(STI_EHSM_TOKEN, 401, "token not found or not present")                                       \
    X(STI_EHSM_LOGIN, 402, "token login failed")                                                   \
    X(STI_EHSM_KEY, 403, "key not found on token")                                                 \
    X(STI_EHSM_SIGN, 404, "token failed to sign")                                                  \
    X(STI_EHSM_SESSION, 405, "token session lost")                                                 \
    X(STI_EHSM_DEVICE, 406, "token device error")                                                  \
    X(STI_EHSM_UNAVAILABLE, 407, "no HSM worker available")                                        \
    X(STI_EHSM_KEYGEN, 408, "key generation failed")                                               \
    X(STI_EHSM_SELFTEST, 409, "signature self-test failed")                                        \
    /* pki */                                                                                      \
    X(STI_EPKI_PARSE, 500, "certificate or request could not be parsed")                          \
    X(STI_EPKI_TNAUTH, 501, "TNAuthList extension malformed")                                     \
    X(STI_EPKI_NOTNAUTH, 502, "TNAuthList extension missing")                                     \
    X(STI_EPKI_EXPIRED, 503, "certificate expired")                                                \
    X(STI_EPKI_NOTYET, 504, "certificate not yet valid")                                           \
    X(STI_EPKI_KEYMISMATCH, 505, "certificate public key does not match the token key")           \
    X(STI_EPKI_CHAIN, 506, "certificate chain invalid or out of order")                            \
    X(STI_EPKI_KEYTYPE, 507, "key is not ECDSA P-256")                                             \
    X(STI_EPKI_SIG, 508, "certificate or request signature invalid")                               \
    X(STI_EPKI_PROFILE, 509, "certificate violates the SHAKEN profile")                            \
    /* verify (STI-VS checks) */                                                                   \
    X(STI_EVFY_FORMAT, 600, "PASSporT is not a well-formed JWS")                                   \
    X(STI_EVFY_HEADER, 601, "PASSporT header invalid (alg, ppt, typ, x5u)")                       \
    X(STI_EVFY_CLAIMS, 602, "PASSporT claims invalid")                                             \
    X(STI_EVFY_SIG, 603, "PASSporT signature does not verify")                                     \
    X(STI_EVFY_STALE, 604, "iat too old")                                                          \
    X(STI_EVFY_FUTURE, 605, "iat in the future")                                                   \
    X(STI_EVFY_INFO, 606, "Identity info parameter does not match x5u")                            \
    X(STI_EVFY_CHAIN, 607, "certificate chain does not lead to the trust anchor")                  \
    X(STI_EVFY_SCOPE, 608, "orig TN not in the certificate's scope")                               \
    X(STI_EVFY_CONSTRAINT, 609, "JWTClaimConstraints not satisfied")                               \
    X(STI_EVFY_FETCH, 610, "certificate could not be fetched from x5u")                            \
    X(STI_EVFY_REVOKED, 611, "a certificate of the chain is revoked")                              \
    X(STI_EVFY_CRL, 612, "revocation status unknown: CRL unavailable or invalid")                  \
    X(STI_EVFY_KEYUSAGE, 613, "certificate key usage does not allow this use")                     \
    X(STI_EVFY_UNAVAILABLE, 614, "verifier not running; try again")                                \
    X(STI_EVFY_FETCH_STATUS, 615, "x5u/CRL server answered other than 200 (no redirects)")         \
    X(STI_EVFY_FETCH_TYPE, 616, "x5u/CRL answer has the wrong Content-Type")                       \
    X(STI_EVFY_FETCH_SIZE, 617, "x5u/CRL answer larger than allowed")                              \
    X(STI_EVFY_FETCH_TIMEOUT, 618, "x5u/CRL fetch took longer than allowed")                       \
    X(STI_EVFY_FETCH_BODY, 619, "x5u/CRL body is not a certificate chain or CRL")                  \
    X(STI_EVFY_FETCH_HTTP, 620, "x5u/CRL server's answer is not valid HTTP")                       \
    /* board / store */                                                                            \
    X(STI_EBOARD, 700, "board device error")                                                       \
    X(STI_ESTORE, 701, "store commit failed, previous state kept")                                 \
    X(STI_EAUTH, 702, "authentication failed")                                                     \
    X(STI_ELOCKED, 703, "locked out, try later")                                                   \
    X(STI_ECLOCK, 704, "clock not trustworthy")                                                    \
    X(STI_EUPDATE, 705, "firmware update refused")                                                 \
    X(STI_ESANDBOX_PRIV, 706, "changing user or root directory needs root")                        \
    X(STI_ESANDBOX_USER, 707, "sandbox user not in the user database")                             \
    X(STI_ESANDBOX, 708, "process confinement could not be applied")                               \
    /* internal */                                                                                 \
    X(STI_ENOMEM, 900, "out of memory")                                                            \
    X(STI_EINTERNAL, 901, "internal error")

enum sti_err {
#define STI_ERR_ENUM(name, num, msg) name = num,
    STI_ERRORS(STI_ERR_ENUM)
#undef STI_ERR_ENUM
};

/* Message for a code; "unknown error" for numbers not in the table. */
const char *sti_strerror(int code);
/* Symbolic name ("STI_ESCOPE") for a code, or "STI_E?" */
const char *sti_errname(int code);
/* 1 if the number is a code of this table. */
int sti_err_known(int code);

/* The two guard helpers. STI_TRY passes an error up; STI_CHECK fails with a
 * code when a condition is false. Both jump to the function's cleanup label
 * `out` with `rc` set, so resources are released in one place. */
#define STI_TRY(expr)                                                                              \
    do {                                                                                           \
        if ((rc = (expr)) != STI_OK)                                                               \
            goto out;                                                                              \
    } while (0)
#define STI_CHECK(cond, code)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            rc = (code);                                                                           \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

#endif
