"""The HTTP client for the transcription server.

- `client`     ServerClient: one kept-alive connection, readiness, transcription.
- `detection`  which API a server speaks, decided from the evidence of its routes.
- `dialects`   one small class per server dialect behind one interface.
- `answers`    reading error bodies and transcripts; failures as facts with a reason.
"""

from turbo_whisper.server.answers import MAX_ANSWER_BYTES, read_error_body
from turbo_whisper.server.client import Backoff, ServerClient, multipart_form

__all__ = ["MAX_ANSWER_BYTES", "Backoff", "ServerClient", "multipart_form", "read_error_body"]
