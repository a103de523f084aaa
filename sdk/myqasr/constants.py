"""Facts about the audio and the Whisper window that every stage shares (one home, like whisper.cpp's header)."""

SAMPLE_RATE = 16_000                 # Hz: every clip is loaded, resampled and fed at this rate
WHISPER_WINDOW_S = 30                # Whisper's encoder sees one fixed 30 s window
WHISPER_N_SAMPLES = SAMPLE_RATE * WHISPER_WINDOW_S      # 480,000 samples
WHISPER_HOP = 160                    # samples per log-mel frame
WHISPER_N_FRAMES = WHISPER_N_SAMPLES // WHISPER_HOP     # 3,000 log-mel frames
WHISPER_ENCODER_FRAMES = WHISPER_N_FRAMES // 2          # 1,500 encoder positions (conv2 has stride 2)

# English-only Whisper (tiny.en ... medium.en): <|startoftranscript|>, <|notimestamps|>, <|endoftext|>.
WHISPER_SOT_ID = 50257
WHISPER_NO_TIMESTAMPS_ID = 50362
WHISPER_EOT_ID = 50256
WHISPER_EN_PROMPT = (WHISPER_SOT_ID, WHISPER_NO_TIMESTAMPS_ID)
WHISPER_MAX_NEW_TOKENS = 128         # greedy decoding stops here if no <|endoftext|> came
