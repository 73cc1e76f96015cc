"""hal.board: clock trust, feedback on LED/buzzer."""

from vitale.hal.board import Board, Buzzer, Clock, Led


class _Ticks:
    def __init__(self):
        self.t = 1000

    def ms(self):
        return self.t

    def diff(self, a, b):
        return a - b


def test_clock_unset_until_host_sets_it_then_advances():
    tk = _Ticks()
    c = Clock(tk.ms, tk.diff)
    assert not c.is_set() and c.now() is None
    c.set(1700000000)
    tk.t += 2500
    assert c.now() == 1700000002


def test_feedback_drives_led_and_buzzer():
    seen = []
    tones = []
    b = Board("test", Clock(_Ticks().ms, _Ticks().diff), led=Led(seen.append), buzzer=Buzzer(lambda f, ms: tones.append((f, ms))))
    b.feedback("ok")
    assert b.led.state == "ok" and seen[-1] == Led.COLOURS["ok"]
    assert tones == [(2000, 80)]
    b.feedback("scanning")
    assert b.led.state == "scanning" and len(tones) == 1
    b.feedback("no-such-state")
    assert seen[-1] == Led.COLOURS["error"]
