package org.myqasr.demo;

import android.content.ContentProvider;
import android.content.ContentValues;
import android.content.Context;
import android.database.Cursor;
import android.database.MatrixCursor;
import android.net.Uri;
import android.os.ParcelFileDescriptor;
import android.provider.OpenableColumns;

import java.io.File;
import java.io.FileNotFoundException;

import org.myqasr.demo.core.ShareSpec;

/**
 * Serves the statistics file to the app the user picks in the share sheet: read-only, only with the URI permission
 * the ACTION_SEND intent grants (the provider is not exported), and only a {@code .stats} file in the app's folder
 * ({@link ShareSpec#resolve}: never a clip, never another file). AndroidX's FileProvider would do the same, but the
 * Gradle-free APK has no AndroidX, so this is its few lines on the platform API.
 */
public final class StatsShareProvider extends ContentProvider {
    /** Where the statistics file is written and served from: the app's adb-reachable folder (else internal). */
    static File statsDir(Context c) {
        File f = c.getExternalFilesDir(null);
        return f != null ? f : c.getFilesDir();
    }

    private File file(Uri uri) {
        Context c = getContext();
        return c == null ? null : ShareSpec.resolve(statsDir(c), uri.getPath());
    }

    @Override
    public boolean onCreate() {
        return true;
    }

    @Override
    public Cursor query(Uri uri, String[] projection, String selection, String[] args, String sortOrder) {
        File f = file(uri);
        if (f == null) {
            return null;
        }
        String[] cols = projection != null ? projection : new String[] {OpenableColumns.DISPLAY_NAME,
            OpenableColumns.SIZE};
        Object[] row = new Object[cols.length];
        for (int i = 0; i < cols.length; i++) {
            row[i] = OpenableColumns.DISPLAY_NAME.equals(cols[i]) ? f.getName()
                    : OpenableColumns.SIZE.equals(cols[i]) ? Long.valueOf(f.length()) : null;
        }
        MatrixCursor cursor = new MatrixCursor(cols, 1);
        cursor.addRow(row);
        return cursor;
    }

    @Override
    public String getType(Uri uri) {
        return ShareSpec.MIME;
    }

    @Override
    public ParcelFileDescriptor openFile(Uri uri, String mode) throws FileNotFoundException {
        if (!"r".equals(mode)) {
            throw new FileNotFoundException("read-only: " + uri);
        }
        File f = file(uri);
        if (f == null) {
            throw new FileNotFoundException("not shared: " + uri);
        }
        return ParcelFileDescriptor.open(f, ParcelFileDescriptor.MODE_READ_ONLY);
    }

    @Override
    public Uri insert(Uri uri, ContentValues values) {
        throw new UnsupportedOperationException("read-only");
    }

    @Override
    public int delete(Uri uri, String selection, String[] args) {
        throw new UnsupportedOperationException("read-only");
    }

    @Override
    public int update(Uri uri, ContentValues values, String selection, String[] args) {
        throw new UnsupportedOperationException("read-only");
    }
}
