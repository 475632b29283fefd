import random
from email.parser import BytesParser
from email.policy import HTTP

from hypothesis import given
from hypothesis import strategies as st

from turbo_whisper.server import Backoff, multipart_form, read_error_body


def test_backoff_grows_is_capped_and_jittered():
    backoff = Backoff(start=0.25, factor=2.0, cap=2.0, rng=random.Random(7))
    delays = [backoff.next() for _ in range(10)]
    steps = [0.25, 0.5, 1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]
    for delay, step in zip(delays, steps, strict=True):
        assert step / 2 <= delay <= step
    assert len(set(delays)) == len(delays)  # jitter: no two pollers in lock step
    backoff.reset()
    assert backoff.next() <= 0.25


def test_openai_error_shape():
    body = b'{"error": {"message": "Invalid file format.", "type": "invalid_request_error"}}'
    assert read_error_body(body, "application/json") == "Invalid file format."


def test_plain_error_string_shape():
    assert read_error_body(b'{"error": "failed to read WAV"}') == "failed to read WAV"


def test_fastapi_detail_string_and_list():
    assert read_error_body(b'{"detail": "Model is not installed"}') == "Model is not installed"
    body = b'{"detail": [{"loc": ["body", "model"], "msg": "Field required", "type": "missing"}]}'
    assert read_error_body(body) == "model: Field required"


def test_plain_text_and_html():
    assert read_error_body(b"Internal Server Error", "text/plain") == "Internal Server Error"
    page = b"<html><head><title>502 Bad Gateway</title></head><body><h1>Bad</h1></body></html>"
    assert read_error_body(page, "text/html") == "502 Bad Gateway"
    assert read_error_body(b"<p>Service &amp; more</p>", "text/html") == "Service & more"


def test_empty_and_long_bodies():
    assert read_error_body(b"") == "(empty answer)"
    assert len(read_error_body(b"x" * 10_000)) == 300


@given(st.binary(max_size=4000), st.sampled_from(["", "application/json", "text/html", "text/plain"]))
def test_error_reader_never_raises(body, content_type):
    message = read_error_body(body, content_type)
    assert isinstance(message, str) and message and len(message) <= 300


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)))
def test_error_reader_survives_any_json(value):
    import json

    assert read_error_body(json.dumps(value).encode())


@given(audio=st.binary(max_size=4096), prompt=st.text(max_size=200))
def test_the_upload_form_reads_back_field_for_field(audio, prompt):
    fields = {"model": "Systran/faster-whisper-large-v3", "prompt": prompt}
    body, content_type = multipart_form(fields, "audio.wav", audio, "audio/wav")
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    parts = {part.get_param("name", header="content-disposition"): part
             for part in message.iter_parts()}
    assert set(parts) == {"model", "prompt", "file"}
    assert parts["model"].get_payload(decode=True) == fields["model"].encode()
    assert parts["prompt"].get_payload(decode=True) == prompt.encode()
    assert parts["file"].get_filename() == "audio.wav"
    assert parts["file"].get_content_type() == "audio/wav"
    assert parts["file"].get_payload(decode=True) == audio
