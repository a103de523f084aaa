package org.myqasr.demo.core;

import java.io.File;

/**
 * Sharing the statistics file through the Android share sheet: the content URI the app's own provider
 * (StatsShareProvider, declared in the manifest with grantUriPermissions) serves, the MIME type, the subject and
 * text of the ACTION_SEND intent, and the one rule for which file a URI may name: a {@code .stats} file directly
 * in the shared folder, nothing else (no sub-folders, no "..", no other file of the app).
 */
public final class ShareSpec {
    public static final String AUTHORITY = "org.myqasr.demo.share";
    public static final String MIME = "application/octet-stream";
    public static final String SUFFIX = ".stats";

    public final String uri;
    public final String subject;
    public final String text;

    private ShareSpec(String uri, String subject, String text) {
        this.uri = uri;
        this.subject = subject;
        this.text = text;
    }

    /** What the ACTION_SEND intent carries for {@code summary}'s file. */
    public static ShareSpec forFile(StatsFileSummary summary) throws AsrException {
        if (!isShareable(summary.name)) {
            throw new AsrException(summary.name + ": only a " + SUFFIX + " file is shared");
        }
        Object clips = summary.provenance.get("clips");
        Object seconds = summary.provenance.get("seconds");
        return new ShareSpec("content://" + AUTHORITY + "/" + summary.name,
                "myqasr statistics (" + clips + " clips, " + seconds + " s)",
                summary.describe() + "\nOn the host: myqasr personalize --stats " + summary.name + " --budget-mb N");
    }

    public static boolean isShareable(String name) {
        return name != null && name.endsWith(SUFFIX) && name.length() > SUFFIX.length() && name.indexOf('/') < 0
                && name.indexOf('\\') < 0 && !name.startsWith(".");
    }

    /** The file a content URI's path names in {@code root}, or null when it may not be served. */
    public static File resolve(File root, String uriPath) {
        if (uriPath == null) {
            return null;
        }
        String name = uriPath.startsWith("/") ? uriPath.substring(1) : uriPath;
        if (!isShareable(name)) {
            return null;
        }
        File f = new File(root, name);
        return f.isFile() ? f : null;
    }
}
