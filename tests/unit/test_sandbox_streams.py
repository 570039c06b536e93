from agentlab.sandbox.streams import MarkedStream, render_output

MARKER = b"\x00<end:abc>\x00"


def test_output_before_the_marker_belongs_to_the_cell_and_after_it_to_the_next() -> None:
    stream = MarkedStream(MARKER, cap_bytes=1000)

    stream.feed(b"first cell\n" + MARKER + b"late background line\n")

    assert stream.cell_complete
    assert stream.take_cell() == (b"first cell\n", 0)
    stream.begin_cell()
    stream.feed(b"second\n" + MARKER)
    assert stream.take_cell() == (b"late background line\nsecond\n", 0)


def test_a_marker_split_across_reads_is_still_found() -> None:
    stream = MarkedStream(MARKER, cap_bytes=1000)
    data = b"hello" + MARKER

    for index in range(len(data)):
        stream.feed(data[index : index + 1])

    assert stream.take_cell() == (b"hello", 0)


def test_output_past_the_cap_is_counted_not_kept() -> None:
    stream = MarkedStream(MARKER, cap_bytes=10)

    stream.feed(b"a" * 25)
    stream.feed(b"b" * 5 + MARKER)

    assert stream.take_cell() == (b"a" * 10, 20)


def test_without_a_marker_take_cell_returns_everything_so_far() -> None:
    stream = MarkedStream(MARKER, cap_bytes=100)

    stream.feed(b"partial output of a kernel that died\x00<e")

    assert not stream.cell_complete
    assert stream.take_cell() == (b"partial output of a kernel that died\x00<e", 0)


def test_render_output_adds_the_truncation_marker() -> None:
    assert render_output(b"abc", 0) == "abc"
    assert render_output(b"abc", 7) == "abc\n[output truncated: 7 bytes omitted]"
    assert render_output(b"\xff", 0) == "\ufffd"
