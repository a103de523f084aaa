package org.myqasr.demo.core;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The personalization clips: one folder in the app's storage (the adb-reachable app folder's {@code clips/}),
 * filled by the document picker (each pick copied in under its display name), by the recorder, or by adb push.
 */
public final class ClipStore {
    private final File dir;

    public ClipStore(File dir) {
        this.dir = dir;
    }

    public File dir() {
        return dir;
    }

    /** The WAV clips, in name order. */
    public List<File> clips() {
        List<File> out = new ArrayList<File>();
        File[] files = dir.listFiles();
        if (files != null) {
            Arrays.sort(files);
            for (File f : files) {
                if (f.isFile() && ModelFiles.isWav(f.getName())) {
                    out.add(f);
                }
            }
        }
        return out;
    }

    /** A display name made safe as a file name in the folder (no separators or characters a file system refuses). */
    public static String safeName(String displayName) {
        String n = displayName == null ? "" : displayName.replaceAll("[/\\\\:*?\"<>|\\x00-\\x1f]", "_").trim();
        if (n.isEmpty() || n.startsWith(".")) {
            n = "clip" + n;
        }
        return n;
    }

    /** {@code name} if free in the folder, else name-2.wav, name-3.wav, ... */
    public File freeFile(String name) {
        File f = new File(dir, name);
        String stem = name.toLowerCase(java.util.Locale.ROOT).endsWith(ModelFiles.WAV)
                ? name.substring(0, name.length() - ModelFiles.WAV.length()) : name;
        String ext = name.substring(stem.length());
        for (int k = 2; f.exists(); k++) {
            f = new File(dir, stem + "-" + k + ext);
        }
        return f;
    }

    /**
     * Copies {@code in} (closed afterwards) into the folder under {@code displayName}, via a temporary file; a
     * picked file that is not a WAV is refused with a sentence, and nothing is left behind on failure or cancel.
     */
    public File add(InputStream in, String displayName, Cancellation cancel) throws AsrException, IOException {
        String name = safeName(displayName);
        try {
            if (!ModelFiles.isWav(name)) {
                throw new AsrException(name + ": not a .wav file (the app reads WAV clips; convert with ffmpeg -i "
                        + name + " -ar 16000 -ac 1 clip.wav)");
            }
            if (!dir.isDirectory() && !dir.mkdirs()) {
                throw new IOException("cannot create " + dir);
            }
            File dest = freeFile(name);
            File tmp = new File(dir, "." + dest.getName() + ".part");
            boolean ok = false;
            OutputStream out = new FileOutputStream(tmp);
            try {
                byte[] buf = new byte[1 << 16];
                int n;
                while ((n = in.read(buf)) > 0) {
                    cancel.check();
                    out.write(buf, 0, n);
                }
                out.close();
                ok = tmp.renameTo(dest);
                if (!ok) {
                    throw new IOException("cannot rename " + tmp.getName());
                }
                return dest;
            } finally {
                out.close();
                if (!ok) {
                    tmp.delete(); // a leftover ".part" file is hidden and not a .wav: never taken for a clip
                }
            }
        } finally {
            in.close();
        }
    }

    /** A new recording's file: rec-YYYYMMDD-HHMMSS.wav (free in the folder). */
    public File recordingFile(java.util.Date now) {
        String stamp = new java.text.SimpleDateFormat("yyyyMMdd-HHmmss", java.util.Locale.ROOT).format(now);
        return freeFile("rec-" + stamp + ModelFiles.WAV);
    }

    /** Deletes every clip; returns how many. */
    public int clear() {
        int n = 0;
        for (File f : clips()) {
            n += f.delete() ? 1 : 0;
        }
        return n;
    }
}
