package org.myqasr.demo.core;

/**
 * The few Python string rules the decoders must follow bit for bit, so that a transcript printed by the app
 * equals the one the Python SDK prints for the same logits.
 */
public final class PyText {
    private PyText() {
    }

    /** Python's {@code str.isspace()} for one character (all such characters are in the BMP). */
    public static boolean isSpace(char c) {
        if (c <= ' ') {
            return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
        }
        return c == 0x85 || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028
                || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
    }

    /** Python's {@code s.strip()}. */
    public static String strip(String s) {
        int a = 0;
        int b = s.length();
        while (a < b && isSpace(s.charAt(a))) {
            a++;
        }
        while (b > a && isSpace(s.charAt(b - 1))) {
            b--;
        }
        return s.substring(a, b);
    }

    /** Python's {@code " ".join(s.split())}: whitespace runs become one space, ends stripped. */
    public static String collapseSpaces(String s) {
        StringBuilder out = new StringBuilder(s.length());
        boolean pendingSpace = false;
        for (int k = 0; k < s.length(); k++) {
            char c = s.charAt(k);
            if (isSpace(c)) {
                pendingSpace = out.length() > 0;
            } else {
                if (pendingSpace) {
                    out.append(' ');
                    pendingSpace = false;
                }
                out.append(c);
            }
        }
        return out.toString();
    }

    /**
     * Python's {@code bytes.decode("utf-8", errors="replace")}: every maximal ill-formed subsequence becomes
     * one U+FFFD (Unicode's "maximal subpart" rule, which CPython follows).
     */
    public static String decodeUtf8(byte[] bytes, int length) {
        StringBuilder out = new StringBuilder(length);
        int i = 0;
        while (i < length) {
            int b = bytes[i] & 0xff;
            if (b < 0x80) {
                out.append((char) b);
                i++;
                continue;
            }
            int need;
            int lo = 0x80;
            int hi = 0xbf;
            int cp;
            if (b >= 0xc2 && b <= 0xdf) {
                need = 1;
                cp = b & 0x1f;
            } else if (b >= 0xe0 && b <= 0xef) {
                need = 2;
                cp = b & 0x0f;
                if (b == 0xe0) {
                    lo = 0xa0;
                } else if (b == 0xed) {
                    hi = 0x9f;
                }
            } else if (b >= 0xf0 && b <= 0xf4) {
                need = 3;
                cp = b & 0x07;
                if (b == 0xf0) {
                    lo = 0x90;
                } else if (b == 0xf4) {
                    hi = 0x8f;
                }
            } else {
                out.append('\ufffd');
                i++;
                continue;
            }
            int j = i + 1;
            int got = 0;
            while (got < need && j < length) {
                int c = bytes[j] & 0xff;
                int min = got == 0 ? lo : 0x80;
                int max = got == 0 ? hi : 0xbf;
                if (c < min || c > max) {
                    break;
                }
                cp = (cp << 6) | (c & 0x3f);
                j++;
                got++;
            }
            if (got == need) {
                out.appendCodePoint(cp);
            } else {
                out.append('\ufffd');
            }
            i = j;
        }
        return out.toString();
    }
}
