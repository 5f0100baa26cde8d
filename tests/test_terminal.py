"""Output on a real terminal (a pseudo-terminal 80 columns wide): nothing wider than the terminal,
and the progress line names the check that is running."""

LIST_POSTS = "list_posts returns every post"


def _assert_fits(term):
    too_wide = [line for line in term.segments() if len(line) > term.columns - 1]
    assert not too_wide, f"{len(too_wide)} lines wider than {term.columns - 1} columns: {too_wide[:3]}"


def test_progress_names_the_running_check_and_fits_the_width(make_target, terminal, tmp_path):
    go_on = tmp_path / "go_on"  # list_posts waits for it: the test decides when the check ends
    target = make_target("01", replace={"posts.py": [(
        '    """All posts, oldest first."""\n',
        f'    """All posts, oldest first."""\n    import os, time\n    while not os.path.exists({str(go_on)!r}):\n        time.sleep(0.05)\n',
    )]})
    term = terminal("01", "--target", str(target), "-k", "create_post or list_posts")
    term.wait_for(LIST_POSTS)
    assert term.proc.poll() is None, "the check was shown only after it had finished"
    status = term.segments()[-1]
    assert LIST_POSTS in status and "1/2" in status, status
    go_on.touch()
    assert term.finish() == 0, term.text
    assert "stage 01: 2/2 checks" in term.text
    _assert_fits(term)


def test_list_and_hint_wrap_to_the_width(terminal, starter):
    listed = terminal("list", "--checks", "--target", str(starter))
    assert listed.finish() == 1, listed.text
    assert "Next: stage 01" in listed.text
    _assert_fits(listed)
    hints = terminal("hint", "02", "--all", "--target", str(starter), columns=60)
    assert hints.finish() == 1, hints.text
    assert "[2/" in hints.text and "README step" in hints.text
    _assert_fits(hints)
