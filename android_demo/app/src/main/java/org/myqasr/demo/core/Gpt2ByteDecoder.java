package org.myqasr.demo.core;

import java.util.List;

/**
 * Whisper's token strings are GPT-2 byte-level BPE: each byte is stored as one printable character
 * ({@code bytes_to_unicode} in GPT-2 / Hugging Face). Decoding maps every character back to its byte, joins
 * the bytes and reads them as UTF-8 with Python's "replace" rule. A character outside the table (never in a
 * real GPT-2 vocabulary) becomes '?', as in the SDK ({@code myqasr_export.vocab.Vocab.decode}).
 */
public final class Gpt2ByteDecoder {
    /** BYTE_OF[c] = the byte that character c stands for, or -1; characters above 0x143 stand for none. */
    private static final int[] BYTE_OF = new int[0x144];

    static {
        java.util.Arrays.fill(BYTE_OF, -1);
        int n = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
            if (printable) {
                BYTE_OF[b] = b;
            } else {
                BYTE_OF[256 + n] = b;
                n++;
            }
        }
    }

    private Gpt2ByteDecoder() {
    }

    /** The character that stands for byte b (the forward table, for tests and tools). */
    public static char charOf(int b) {
        for (int c = 0; c < BYTE_OF.length; c++) {
            if (BYTE_OF[c] == (b & 0xff)) {
                return (char) c;
            }
        }
        throw new IllegalStateException("table incomplete");
    }

    /** Decodes token ids through the vocabulary; the caller has already removed special ids. */
    public static String decode(String[] tokens, List<Integer> ids) {
        StringBuilder joined = new StringBuilder();
        for (int k = 0; k < ids.size(); k++) {
            joined.append(tokens[ids.get(k)]);
        }
        return decode(joined.toString());
    }

    /** Decodes one string of byte-level characters. */
    public static String decode(String byteLevel) {
        byte[] buf = new byte[byteLevel.length()];
        int n = 0;
        for (int k = 0; k < byteLevel.length(); ) {
            int cp = byteLevel.codePointAt(k);
            k += Character.charCount(cp);
            buf[n++] = (byte) (cp < BYTE_OF.length && BYTE_OF[cp] >= 0 ? BYTE_OF[cp] : '?');
        }
        return PyText.decodeUtf8(buf, n);
    }
}
