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

# Long recordings. Whisper's long-form method (openai/whisper `transcribe`, transformers `generate` on > 30 s):
# decode one 30 s window with timestamps, then move on to the last complete segment's end timestamp.
WHISPER_TIMESTAMP_S = 0.02           # one timestamp token step: <|0.00|>, <|0.02|>, ... <|30.00|>
WHISPER_SAMPLES_PER_TIMESTAMP = round(WHISPER_TIMESTAMP_S * SAMPLE_RATE)   # 320 (2 log-mel frames)
WHISPER_TIMESTAMP_BEGIN_ID = WHISPER_NO_TIMESTAMPS_ID + 1                  # <|0.00|> (English-only models)
WHISPER_MAX_INITIAL_TIMESTAMP = 50   # the first timestamp of a window is at most <|1.00|> (generation_config)
MAX_RECORDING_S = 2 * 3600           # longest recording myqasr loads (2 h: 460 MB of float32 samples)
CTC_WINDOW_S = 20                    # CTC models take long recordings in windows of this length ...
CTC_CONTEXT_S = 2                    # ... plus this much context on each side, whose frames are dropped
CALIBRATION_SEGMENT_S = WHISPER_WINDOW_S   # the statistics pass cuts long recordings into segments of at most this
CALIBRATION_SEARCH_S = 10            # ... at the quietest point of the last this-many seconds before the limit
CALIBRATION_TRANSCRIBE_BATCH = 2     # segments per full-precision transcription batch of the statistics pass: every
                                     # one is a 30 s window, so a batch sets the pass's peak memory; at 2 it stays at
                                     # the teacher-forced pass's own peak (benchmarks/results/longform.md)
