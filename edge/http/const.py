"""Constants of the daemon's HTTP server: limits and timeouts that staff never tune."""

from __future__ import annotations

# --- Slow and hostile clients ---
# A connection must deliver a complete request head within this many seconds of opening (or of
# the previous answer on a kept-alive connection), else it is closed. aiohttp's keep-alive
# timer does this: it runs from the moment the connection is made and is not extended by a
# client that drips bytes, so a half-sent request cannot hold anything longer than this.
HEADER_TIMEOUT_S = 10.0
# A request body must arrive completely within this many seconds of its head.
BODY_TIMEOUT_S = 10.0
# After refusing a request whose body is still coming, read (and drop) it for at most this long
# before closing, so the client sees the answer rather than a reset.
LINGER_S = 2.0
# The largest request body accepted (forms and the console's YAML files are far smaller).
MAX_BODY_BYTES = 512 * 1024
# Request head limits: one line, one header field, number of header fields.
MAX_LINE_BYTES = 4096
MAX_FIELD_BYTES = 8190
MAX_HEADERS = 64
# A clip download that has not finished in this many seconds is cut (a speaker on the LAN
# fetches a clip of a few hundred kilobytes in well under a second; a client that stops
# reading must not keep the file and the connection forever).
CLIP_SEND_TIMEOUT_S = 120.0
# On stop, connections still busy get this long to finish.
SHUTDOWN_GRACE_S = 1.0
# Connections the kernel holds for us before accept (the default 128 is enough for a LAN box;
# said here so that a change is a decision).
LISTEN_BACKLOG = 128

# --- Routes ---
CLIP_PATH = r"/clips/{sha:[0-9a-f]{64}}.{ext:mp3|wav}"
CONTENT_TYPES = {"mp3": "audio/mpeg", "wav": "audio/wav"}
HASH_CHUNK_BYTES = 64 * 1024

# --- Signed links (the phone acknowledgement page) ---
LINK_TOKEN_MAX_AGE_S = 24 * 3600
LINK_SIGNATURE_BYTES = 16   # 128 bits of HMAC-SHA256, enough against guessing, short in an SMS

# --- The bound address, when http.public_url is empty ---
LAN_PROBE = ("10.255.255.255", 1)  # connect() on UDP picks a route; nothing is sent
