from turbo_whisper.text import finish, is_hallucination


def test_known_inventions_are_dropped_only_for_quiet_clips():
    assert is_hallucination(" Thank you.", -60.0)
    assert is_hallucination("Thanks for watching!", -40.0)
    assert is_hallucination("you", -50.0)
    assert not is_hallucination("Thank you.", -12.0)  # somebody really said it
    assert not is_hallucination("Thank you for the report.", -60.0)


def test_finish_trims_replaces_and_adds_space():
    assert finish("  Hello world.\n") == "Hello world."
    assert finish("a comma b", (("comma", ","),)) == "a , b"
    assert finish("Done.", trailing_space=True) == "Done. "
    assert finish("   ", trailing_space=True) == ""
