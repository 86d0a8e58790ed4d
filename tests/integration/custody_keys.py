#!/usr/bin/env python3
"""Key custody: every private key the stisign tool provisions is, in the
token's own view, sensitive, never extractable, private and sign-only; and
no code in firmware/ or hsm/ asks a token for CKA_VALUE except the test hook
hsm_signer_test_probe_value, which wipes whatever comes back.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
from stitest import SRC, Env, check, main  # noqa: E402

LABELS = ["af-acme", "af-globex", "dca-initech", "spare"]
WANT = {"sensitive": 1, "extractable": 0, "private": 1, "never_extractable": 1,
        "always_sensitive": 1, "derive": 0, "decrypt": 0, "sign": 1}


def every_provisioned_key_is_sensitive_non_extractable_sign_only(env):
    for label in LABELS:
        env.keygen(label)
    r = env.tool(["key", "list", "--token", env.token, "--pin-file", env.pin])
    listed = {}
    for line in r.stdout.splitlines():
        m = re.match(r"^(\S+) id=([0-9a-f]+) (ec-p256|\(not P-256\))$", line)
        check(m, "key list line: %r" % line)
        listed[m.group(1)] = m.group(2)
        check(m.group(3) == "ec-p256", "%s is P-256" % m.group(1))
    check(sorted(listed) == sorted(LABELS), "key list shows every key: %r" % sorted(listed))
    check(len(set(listed.values())) == len(LABELS), "each key has its own CKA_ID")
    for label in listed:
        r = env.tool(["key", "attrs", "--token", env.token, "--pin-file", env.pin,
                      "--label", label])
        got = dict(kv.split("=") for kv in r.stdout.split())
        got = {k: int(v) for k, v in got.items()}
        for k, v in WANT.items():
            check(got.get(k) == v, "%s: %s=%r, want %d (%s)" % (label, k, got.get(k), v,
                                                                  r.stdout.strip()))
        print("  %s: %s" % (label, r.stdout.strip()))


def strip_comments(text):
    """C source with comments and string literals blanked (positions kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text[i] in "\"'":
            q, j = text[i], i + 1
            while j < n and text[j] != q:
                j += 2 if text[j] == "\\" else 1
            out.append(q + " " * (j - i - 1) + (q if j < n else ""))
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def enclosing_function(code, pos):
    """Name of the top-level function whose body contains pos, or None."""
    depth, start = 0, None
    for i, ch in enumerate(code[:pos]):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                start = None
    if depth == 0 or start is None:
        return None
    head = code[:start]
    m = re.search(r"([A-Za-z_]\w*)\s*\([^;{}]*\)\s*$", head)
    return m.group(1) if m else None


def cka_value_is_read_only_by_the_test_probe(env):
    del env
    hits = []
    for top in ("firmware", "hsm"):
        for dirpath, _, files in os.walk(os.path.join(SRC, top)):
            for fn in files:
                if not fn.endswith((".c", ".h")):
                    continue
                path = os.path.join(dirpath, fn)
                with open(path, errors="replace") as f:
                    text = f.read()
                code = strip_comments(text)
                for m in re.finditer(r"\bCKA_VALUE\b", code):
                    fn_name = enclosing_function(code, m.start())
                    line = code.count("\n", 0, m.start()) + 1
                    hits.append((os.path.relpath(path, SRC), line, fn_name))
    print("  CKA_VALUE in code: %r" % hits)
    check(hits, "the probe hook itself is found (the scan works)")
    for path, line, fn_name in hits:
        check(fn_name == "hsm_signer_test_probe_value",
              "%s:%d reads CKA_VALUE outside the test probe (in %s)" % (path, line, fn_name))
    # The probe hands nothing out: its buffer is wiped before it returns.
    with open(os.path.join(SRC, "hsm/signer.c")) as f:
        code = strip_comments(f.read())
    m = re.search(r"int hsm_signer_test_probe_value\([^)]*\)\s*\{(.*?)\n\}", code, re.S)
    check(m, "probe found in hsm/signer.c")
    body = m.group(1)
    check("hsm_wipe(buf" in body and "memcpy" not in body, "probe wipes and copies nothing out")


def scanner_would_catch_a_read_elsewhere(env):
    """The scan can fail: a CKA_VALUE read in another function is flagged,
    one in a comment or string is not."""
    del env
    code = strip_comments('int f(void)\n{\n  /* CKA_VALUE */ const char *s = "CKA_VALUE";\n'
                          '  CK_ATTRIBUTE a = {CKA_VALUE, 0, 0};\n}\n'
                          'int hsm_signer_test_probe_value(int k)\n{\n  x(CKA_VALUE);\n}\n')
    found = [enclosing_function(code, m.start())
             for m in re.finditer(r"\bCKA_VALUE\b", code)]
    check(found == ["f", "hsm_signer_test_probe_value"], "scanner sees %r" % found)


if __name__ == "__main__":
    main([every_provisioned_key_is_sensitive_non_extractable_sign_only,
          cka_value_is_read_only_by_the_test_probe, scanner_would_catch_a_read_elsewhere],
         "custody")
