package org.myqasr.demo.core;

/**
 * Reads memory fields from the text of Linux's {@code /proc/self/status} (lines like {@code "VmHWM:\t  123456 kB"}).
 * VmHWM is the process's peak resident set size since it started ("high water mark"); VmRSS is the current one.
 */
public final class ProcStatus {
    public static final String PEAK_RSS = "VmHWM";
    public static final String RSS = "VmRSS";

    private ProcStatus() {
    }

    /** The value of {@code field} in kB, or -1 when the text has no such line (e.g. not Linux). */
    public static long kb(String statusText, String field) {
        String prefix = field + ":";
        for (String line : statusText.split("\n")) {
            if (!line.startsWith(prefix)) {
                continue;
            }
            String rest = line.substring(prefix.length()).trim();
            if (!rest.endsWith("kB")) {
                throw new IllegalArgumentException("/proc/self/status: " + field + " is not in kB: '" + line + "'");
            }
            String number = rest.substring(0, rest.length() - 2).trim();
            try {
                return Long.parseLong(number);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("/proc/self/status: cannot read the number in '" + line + "'");
            }
        }
        return -1;
    }
}
