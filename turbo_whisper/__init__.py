"""Turbo Whisper: press a hotkey, speak, and the transcript lands in the clipboard."""

__version__ = "0.1.0"
