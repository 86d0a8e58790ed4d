#!/usr/bin/env python3
"""Signed firmware updates at the console, on a real pty with the real
daemon on the sim board (board_state_dir): update status shows the slots;
update install refuses tampered, unsigned, foreign-key and downgraded
images (and what is no image file at all) with their BSP_UPD_* code and
STI_EUPDATE, and nothing changes in the slots; a good image (signed with
the sim board's test vendor key by stisign-mkimage) is installed into the
other slot and waits for its trial boot; after a restart the trial runs,
update confirm keeps it (the daemon is not provisioned here, so it would
never confirm itself), a second update confirm says there is nothing to
confirm; a trial that is not confirmed falls back at the boot after. The
update commands need the operator login; installs and confirms are in the
audit log."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
from console_fixture import STISIGND, check, run_tests  # noqa: E402
from stitest import mkimage, run  # noqa: E402
from test_console import first_boot, login  # noqa: E402

REFUSED = "% firmware update refused (STI_EUPDATE)"
SLOTS = re.compile(r"Slots: +(running=\S+ version=\S+ trial=\S+ active=\S+ pending=\S+ "
                   r"rollback=\S+)\r\n")


def board_dir(env):
    return os.path.join(env.dir, "board")


def boot(env, first=False):
    """Starts the daemon (first: on the sim board's state folder, through
    the first-boot passphrase) and logs in."""
    if first:
        env.configure("board_state_dir = %s\n" % board_dir(env))
    con = env.start()
    if first:
        first_boot(con)
    else:
        con.expect("stisign> ")
    login(con)
    con.cmd("terminal length 0")
    return con


def slots(con):
    """update status: the slots line as a dict, and the whole output."""
    out = con.cmd("update status", timeout=60)
    m = SLOTS.search(out)
    check(m, "a slots line in update status: %r" % out)
    return dict(kv.split("=", 1) for kv in m.group(1).split()), out


def slots_offline(env):
    """The same from outside the daemon: stisignd --update-status."""
    r = run([STISIGND, "-c", env.cfg, "--update-status"])
    return dict(kv.split("=", 1) for kv in r.stdout.split())


def install(con, path):
    return con.cmd("update install " + path, timeout=60)


def update_commands_need_the_operator_login(env):
    env.configure("board_state_dir = %s\n" % board_dir(env))
    con = env.start()
    first_boot(con)
    out = con.cmd("help", "stisign> ")
    check("update" not in out, "logged out, help lists no update command: " + out)
    good = mkimage(env, "good", "0.200.0")
    for line in ("update install " + good, "update status", "update confirm", "upd inst " + good):
        out = con.cmd(line, "stisign> ")
        check("% Not logged in. Type login." in out, "%s while logged out: %r" % (line, out))
    check(not os.path.exists(os.path.join(board_dir(env), "slots")), "nothing installed")
    login(con)
    con.cmd("terminal length 0")
    out = con.cmd("help")
    for usage in ("update status", "update install PATH", "update confirm"):
        check(usage in out, "help lists %s: %s" % (usage, out))
    out = con.cmd("update ?")
    check("signed update image" in out and "Incomplete" not in out, out)
    out = con.cmd("update install")
    check("% Usage: update install PATH" in out, out)
    out = con.cmd("update install good.img")
    check("% Image: an absolute path" in out, "relative path refused: " + out)
    check(not os.path.exists(os.path.join(board_dir(env), "slots")), "still nothing installed")
    # Logged in, the same (abbreviated) command installs.
    out = con.cmd("upd inst " + good, timeout=60)
    check("Image 0.200.0 installed in slot a" in out, "installs once logged in: " + out)
    out = con.cmd("upd st", timeout=60)
    check("pending=a" in out, out)


def bad_images_are_refused_and_change_nothing(env):
    con = boot(env, first=True)
    before, out = slots(con)
    running = before["version"]
    check(before == {"running": "factory", "version": running, "trial": "no",
                     "active": "factory", "pending": "none", "rollback": "none"},
          "factory slots: %r" % before)
    check("Firmware:     %s, the factory image\r\n" % running in out, out)
    check("Next boot:    the same image" in out, out)
    check(slots_offline(env) == before, "--update-status agrees: %r" % slots_offline(env))

    good = mkimage(env, "good", "0.200.0")
    with open(good, "rb") as f:
        data = bytearray(f.read())
    data[-2] ^= 0x20  # one payload byte changed after signing
    tampered = os.path.join(env.dir, "tampered.img")
    with open(tampered, "wb") as f:
        f.write(data)
    other = os.path.join(env.dir, "other.pem")
    run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", other])
    garbage = os.path.join(env.dir, "garbage.img")
    with open(garbage, "wb") as f:
        f.write(b"MZ this is not an update image\n" * 8)
    missing = os.path.join(env.dir, "no-such.img")
    cases = [
        (tampered, "tampered image refused: payload hash mismatch (BSP_UPD_ETAMPERED 12)"),
        (mkimage(env, "unsigned", "0.200.0", key=None),
         "unsigned image refused (BSP_UPD_EUNSIGNED 11)"),
        (mkimage(env, "foreign", "0.200.0", key=other),
         "bad signature: image not signed by the vendor key (BSP_UPD_ESIG 13)"),
        (mkimage(env, "same", running),
         "downgrade refused: image %s is not newer than running %s (BSP_UPD_EDOWNGRADE 14)"
         % (running, running)),
        (mkimage(env, "older", "0.0.1"),
         "downgrade refused: image 0.0.1 is not newer than running %s (BSP_UPD_EDOWNGRADE 14)"
         % running),
        (garbage, "not an update image (bad magic, format or length) (BSP_UPD_EFORMAT 10)"),
        (missing, "%s: No such file or directory (BSP_UPD_EIO 16)" % missing),
        (env.dir, "%s: not a regular file (BSP_UPD_EIO 16)" % env.dir),
    ]
    for img, why in cases:
        out = install(con, img)
        check("Not installed: %s.\r\n" % why in out and "The update slots are unchanged." in out
              and REFUSED in out and "installed in slot" not in out,
              "%s: want %r, got %r" % (os.path.basename(img), why, out))
        now, _ = slots(con)
        check(now == before, "%s changed the slots: %r" % (os.path.basename(img), now))
    check(not os.path.exists(os.path.join(board_dir(env), "slots/pending")), "nothing pending")
    check(slots_offline(env) == before, "slots untouched on disk: %r" % slots_offline(env))
    out = con.cmd("update confirm", timeout=60)
    check("Nothing to confirm: the running image (%s, the factory image) is not on trial."
          % running in out and "STI_E" not in out, out)
    audit = con.cmd("show audit")
    check("admin update install %s: refused BSP_UPD_ETAMPERED 12: tampered image refused"
          % tampered in audit, "the refusal is audited: " + audit)
    check("admin update confirm: ok: nothing to confirm" in audit, audit)
    check("update status" not in audit, "status (read-only) is not audited: " + audit)


def a_good_image_installs_and_its_trial_is_confirmed_by_hand(env):
    con = boot(env, first=True)
    before, _ = slots(con)
    out = install(con, mkimage(env, "v200", "0.200.0"))
    check("Image 0.200.0 installed in slot a; it runs on trial at the next boot.\r\n" in out,
          "install: " + out)
    check("Next: restart the appliance." in out and
          "falls back to the factory image at the boot after" in out and "STI_E" not in out, out)
    now, out = slots(con)
    check(now == dict(before, pending="a"), "slot a pending, running unchanged: %r" % now)
    check("Next boot:    a trial of slot a" in out, out)
    out = con.cmd("update confirm", timeout=60)
    check("Nothing to confirm" in out, "installed is not yet on trial: " + out)

    # The next boot: the trial of slot a. Not provisioned, so health is
    # down and the daemon does not confirm it by itself.
    env.stop()
    con = boot(env)
    now, out = slots(con)
    check(now == {"running": "a", "version": "0.200.0", "trial": "yes", "active": "factory",
                  "pending": "a", "rollback": "none"}, "on trial: %r" % now)
    check("Firmware:     0.200.0, slot a, on trial\r\n" in out and "not confirmed yet" in out, out)
    check("falls back to the factory image." in out, out)
    # No second update while the trial is not confirmed.
    out = install(con, mkimage(env, "v201", "0.201.0"))
    check("Not installed: slot a is on trial: confirm it or reboot before the next update "
          "(BSP_UPD_EBUSY 18).\r\nTo keep the running trial image: update confirm." in out and
          REFUSED in out, out)
    out = con.cmd("update confirm", timeout=60)
    check("Confirmed: slot a (0.200.0) is the active image now; later boots keep it." in out and
          "Note: confirmed by hand while health is down" in out and "STI_E" not in out, out)
    now, _ = slots(con)
    want = {"running": "a", "version": "0.200.0", "trial": "no", "active": "a",
            "pending": "none", "rollback": "none"}
    check(now == want, "confirmed: %r" % now)
    check(slots_offline(env) == want, "confirmed on disk: %r" % slots_offline(env))
    out = con.cmd("update confirm", timeout=60)
    check("Nothing to confirm: the running image (0.200.0, slot a) is not on trial." in out, out)
    # Now 0.200.0 runs: installing it again is a downgrade.
    out = install(con, os.path.join(env.dir, "v200.img"))
    check("downgrade refused: image 0.200.0 is not newer than running 0.200.0 "
          "(BSP_UPD_EDOWNGRADE 14)" in out, out)
    audit = con.cmd("show audit")
    check(re.search(r"admin update install \S+/v200\.img: ok: Image 0\.200\.0 installed in slot a",
                    audit), "the install is audited: " + audit)
    check("admin update confirm: ok: slot a 0.200.0 confirmed by hand while not healthy" in audit,
          "the confirmation is audited: " + audit)

    # The boot after keeps slot a.
    env.stop()
    con = boot(env)
    now, _ = slots(con)
    check(now == want, "slot a kept after a reboot: %r" % now)

    # 0.201.0 into slot b; its trial boot is not confirmed: the boot after
    # falls back to slot a and says so.
    out = install(con, os.path.join(env.dir, "v201.img"))
    check("Image 0.201.0 installed in slot b" in out and
          "falls back to slot a at the boot after" in out, out)
    env.stop()
    con = boot(env)
    now, _ = slots(con)
    check(now["running"] == "b" and now["trial"] == "yes", "trial of b: %r" % now)
    env.stop()
    con = boot(env)
    now, out = slots(con)
    check(now == dict(want, rollback="b"), "fell back to a: %r" % now)
    check("Fell back:    this boot fell back from slot b: its trial never confirmed" in out, out)
    out = con.cmd("update confirm", timeout=60)
    check("Nothing to confirm" in out, out)


if __name__ == "__main__":
    run_tests([update_commands_need_the_operator_login,
               bad_images_are_refused_and_change_nothing,
               a_good_image_installs_and_its_trial_is_confirmed_by_hand], "console-update")
