package org.myqasr.demo;

import android.app.Activity;
import android.content.ClipData;
import android.content.ContentResolver;
import android.content.Intent;
import android.database.Cursor;
import android.net.Uri;
import android.provider.OpenableColumns;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;

import org.myqasr.demo.core.AsrException;
import org.myqasr.demo.core.Cancellation;
import org.myqasr.demo.core.ClipStore;

/**
 * The Storage Access Framework picker for WAV clips (ACTION_OPEN_DOCUMENT, several at once) and the copy of each
 * pick into the app's clip folder ({@link ClipStore}); the personalize and compare screens share it.
 */
final class DocumentPicks {
    private DocumentPicks() {
    }

    /** Opens the system picker for audio files, several at a time; false when the device has none. */
    static boolean pickWavs(Activity a, int request) {
        Intent i = new Intent(Intent.ACTION_OPEN_DOCUMENT);
        i.addCategory(Intent.CATEGORY_OPENABLE);
        i.setType("audio/*");
        i.putExtra(Intent.EXTRA_MIME_TYPES, new String[] {"audio/wav", "audio/x-wav", "audio/wave", "audio/*"});
        i.putExtra(Intent.EXTRA_ALLOW_MULTIPLE, true);
        try {
            a.startActivityForResult(i, request);
            return true;
        } catch (android.content.ActivityNotFoundException e) {
            return false;
        }
    }

    /** The documents a picker returned (one, or several in its ClipData). */
    static List<Uri> uris(Intent data) {
        List<Uri> uris = new ArrayList<Uri>();
        if (data == null) {
            return uris;
        }
        ClipData many = data.getClipData();
        if (many != null) {
            for (int k = 0; k < many.getItemCount(); k++) {
                uris.add(many.getItemAt(k).getUri());
            }
        } else if (data.getData() != null) {
            uris.add(data.getData());
        }
        return uris;
    }

    /** Copies every pick into {@code store}; returns one line per document (copied, or why not). */
    static String copyAll(ContentResolver resolver, List<Uri> uris, ClipStore store, Cancellation cancel)
            throws AsrException {
        StringBuilder b = new StringBuilder();
        for (Uri u : uris) {
            cancel.check();
            String name = displayName(resolver, u, "picked.wav");
            String line;
            try {
                InputStream in = resolver.openInputStream(u);
                if (in == null) {
                    throw new IOException("the provider gave no stream");
                }
                File f = store.add(in, name, cancel);
                line = "Added " + f.getName() + " (" + f.length() / 1024 + " KB)";
            } catch (Cancellation.Cancelled c) {
                throw c;
            } catch (AsrException e) {
                line = e.getMessage();
            } catch (IOException | SecurityException e) {
                line = name + ": cannot copy (" + e.getMessage() + ")";
            }
            b.append(b.length() == 0 ? "" : "\n").append(line);
        }
        return b.toString();
    }

    /** The document's display name, else the last path segment of its URI, else {@code fallback}. */
    static String displayName(ContentResolver resolver, Uri uri, String fallback) {
        Cursor c = resolver.query(uri, new String[] {OpenableColumns.DISPLAY_NAME}, null, null, null);
        if (c != null) {
            try {
                if (c.moveToFirst() && !c.isNull(0)) {
                    return c.getString(0);
                }
            } finally {
                c.close();
            }
        }
        String last = uri.getLastPathSegment();
        return last == null ? fallback : last;
    }
}
