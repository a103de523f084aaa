package org.myqasr.demo.core;

import java.io.DataInputStream;
import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * What will leave the phone, read back from the statistics file itself (not from what the app meant to write):
 * its size, its tensors, its metadata fields and their provenance values. The "Personalize on this phone" screen
 * shows {@link #describe()} before the user shares the file.
 */
public final class StatsFileSummary {
    public final String name;
    public final long bytes;
    /** Tensor name -> "F64 [10240]"; one histogram per layer. */
    public final Map<String, String> tensors;
    /** The metadata's fields, in file order as JSON text (clips, layers and provenance are JSON strings). */
    public final Map<String, Object> metadata;
    public final Map<String, Object> provenance;
    /** The field names of one layer's summary (every layer has the same). */
    public final List<String> layerFields;

    private StatsFileSummary(String name, long bytes, Map<String, String> tensors, Map<String, Object> metadata,
                             Map<String, Object> provenance, List<String> layerFields) {
        this.name = name;
        this.bytes = bytes;
        this.tensors = tensors;
        this.metadata = metadata;
        this.provenance = provenance;
        this.layerFields = layerFields;
    }

    /** Reads the header of a statistics file (safetensors: 8-byte little-endian length, then JSON). */
    @SuppressWarnings("unchecked")
    public static StatsFileSummary read(File f) throws AsrException {
        String header;
        try {
            DataInputStream in = new DataInputStream(new FileInputStream(f));
            try {
                byte[] len = new byte[8];
                in.readFully(len);
                long n = ByteBuffer.wrap(len).order(ByteOrder.LITTLE_ENDIAN).getLong();
                if (n <= 0 || n > f.length() - 8 || n > (64 << 20)) {
                    throw new AsrException(f.getName() + ": not a statistics file (header length " + n + ")");
                }
                byte[] head = new byte[(int) n];
                in.readFully(head);
                header = new String(head, StandardCharsets.UTF_8);
            } finally {
                in.close();
            }
        } catch (IOException e) {
            throw new AsrException(f.getName() + ": cannot read (" + e.getMessage() + ")");
        }
        Map<String, Object> all;
        try {
            all = (Map<String, Object>) Json.parse(header.trim());
        } catch (RuntimeException e) {
            throw new AsrException(f.getName() + ": not a statistics file (" + e.getMessage() + ")");
        }
        Map<String, Object> meta = (Map<String, Object>) all.get("__metadata__");
        if (meta == null || !StatsFile.FORMAT.equals(meta.get("format"))) {
            throw new AsrException(f.getName() + ": not a myqasr statistics file");
        }
        Map<String, String> tensors = new TreeMap<String, String>();
        for (Map.Entry<String, Object> e : all.entrySet()) {
            if (!"__metadata__".equals(e.getKey())) {
                Map<String, Object> t = (Map<String, Object>) e.getValue();
                tensors.put(e.getKey(), t.get("dtype") + " " + t.get("shape"));
            }
        }
        Map<String, Object> prov = meta.get("provenance") instanceof String
                ? (Map<String, Object>) Json.parse((String) meta.get("provenance")) : new TreeMap<String, Object>();
        List<String> fields = new ArrayList<String>();
        if (meta.get("layers") instanceof String) {
            Map<String, Object> layers = (Map<String, Object>) Json.parse((String) meta.get("layers"));
            if (!layers.isEmpty()) {
                fields.addAll(((Map<String, Object>) layers.values().iterator().next()).keySet());
            }
        }
        return new StatsFileSummary(f.getName(), f.length(), tensors, meta, prov, fields);
    }

    /** Every tensor has the same dtype and shape (one histogram per layer): that description, or "mixed". */
    public String tensorKind() {
        String kind = null;
        for (String k : tensors.values()) {
            if (kind != null && !kind.equals(k)) {
                return "mixed";
            }
            kind = k;
        }
        return kind == null ? "none" : kind;
    }

    /** The lines the screen shows: size, tensors, metadata fields, provenance values. */
    public String describe() {
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "%s: %.2f MB (%d bytes) is all that leaves the phone. It holds:",
                name, bytes / 1e6, bytes));
        b.append(String.format(Locale.ROOT, "%n- %d histograms, one per layer (%s): counts of |layer output| on fixed"
                + " log-spaced bins", tensors.size(), tensorKind()));
        b.append("\n- metadata: ").append(join(new ArrayList<String>(metadata.keySet())));
        b.append("\n- per layer: ").append(join(layerFields));
        b.append("\n- provenance:");
        for (Map.Entry<String, Object> e : provenance.entrySet()) {
            b.append(' ').append(e.getKey()).append('=').append(e.getValue()).append(';');
        }
        b.append("\nNo audio, no transcript, no hash of the audio.");
        return b.toString();
    }

    private static String join(List<String> names) {
        StringBuilder b = new StringBuilder();
        for (String n : names) {
            b.append(b.length() == 0 ? "" : ", ").append(n);
        }
        return b.toString();
    }
}
