#!/usr/bin/python3
"""repl_pty.py -- `modelc repl` through a pseudo-terminal: libedit line
editing (cursor motion, backspace, history), tab completion of commands and
param names, the progress line rewritten in place, an error at the typed
line's number (<repl>:N:COL), Ctrl-C during training (stops after the current step, the
params stay, the prompt returns) and the history file.
Usage: repl_pty.py MODELC WORKDIR"""
import os, pty, select, sys, time

MODELC, WORK = sys.argv[1], sys.argv[2]
MODEL = """model wide {
  B = 64
  input x: f32[B, 512]
  input target: f32[B, 512]
  fc1 = linear(512, 512)
  fc2 = linear(512, 512)
  out = fc2(relu(fc1(x)))
  minimize mse(out, target)
  output out
}
"""
os.chdir(WORK)
with open("wide.model", "w") as f:
    f.write(MODEL)
hist = os.path.join(WORK, "history")
env = dict(os.environ, TERM="xterm", MODELC_HISTORY=hist, HOME=WORK)
pid, fd = pty.fork()
if pid == 0:
    os.execve(MODELC, [MODELC, "repl", "wide.model"], env)
seen = b""

def fail(msg):
    sys.stderr.write("FAIL: %s\n--- terminal output ---\n%s\n" % (msg, seen.decode(errors="replace")))
    try:
        os.kill(pid, 9)
    except OSError:
        pass
    sys.exit(1)

def expect(text, timeout=30.0):
    """Reads until `text` appears after what earlier expects consumed."""
    global seen
    want = text.encode()
    end = time.time() + timeout
    while want not in seen:
        left = end - time.time()
        if left <= 0:
            fail("timed out waiting for %r" % text)
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                fail("the session ended while waiting for %r" % text)
            seen += chunk
    seen = seen[seen.index(want) + len(want):]

def send(s):
    os.write(fd, s.encode())

expect("model wide: 4 params")
expect("modelc> ")
time.sleep(0.5)         # let the line editor take the terminal before keys arrive
send("\x03")            # Ctrl-C at the prompt does nothing
time.sleep(0.2)
send("sho\t\r")        # completes the command name ("sho" alone fails)
expect("model wide (wide.model)")
expect("modelc> ")
send("print fc2.b\t\r")  # completes the param name
expect("fc2.bias = tensor(f32[512], 512 values)")
expect("modelc> ")
send("data t\t/dev/null\r")  # completes an input name and its '='
expect("modelc> ")
send("data\r")
expect("  target=/dev/null")
expect("modelc> ")
send("data clear\r")
expect("modelc> ")
send("rint fc1.biasXX\x7f\x7f\x01p\r")  # backspace twice, Ctrl-A, insert 'p'
expect("fc1.bias = tensor(f32[512], 512 values)")
expect("modelc> ")
send("\x1b[A\r")       # up arrow: the last line again
expect("fc1.bias = tensor(f32[512], 512 values)")
expect("modelc> ")
send("set limit 100000\r")
expect("modelc> ")
send("set threads 1\r")
expect("modelc> ")
send("train 100000 steps\r")
expect("samples/s", timeout=40)   # the progress line is live
expect(" left")                    # with the time left
# On a terminal the progress is one line rewritten in place: carriage
# returns, no new lines while it runs.
time.sleep(1.5)
r, _, _ = select.select([fd], [], [], 1)
live = os.read(fd, 65536) if r else b""
seen += live
if b"\r" not in live or b"\n" in live:
    fail("the progress line is not rewritten in place: %r" % live[:300])
send("\x03")                       # Ctrl-C: stop after the current step
expect("interrupted after step ")
expect("params kept")
expect("modelc> ")
send("show\r")
expect("weights; step ")
expect("modelc> ")
send("losses\r")
expect("loss over ")
expect("modelc> ")
send("print fc1.weight @ 3\r")  # the 13th line: reported at the typed text
expect("<repl>:13:18: error: '@' needs two tensors, got a number")
expect("  print fc1.weight @ 3")
expect("modelc> ")
send("quit\r")
end = time.time() + 20
while True:
    r, _, _ = select.select([fd], [], [], 1)
    if r:
        try:
            if not os.read(fd, 65536):
                break
        except OSError:
            break
    if time.time() > end:
        fail("the session did not end after quit")
_, status = os.waitpid(pid, 0)
if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 1:
    fail("exit status %r, expected 1 (one line failed)" % status)
with open(hist) as f:
    h = f.read().replace("\\040", " ")  # libedit's history file escapes spaces
if "train 100000 steps" not in h:
    fail("history file lacks the train line: %r" % h)
print("repl_pty: ok")
