package org.myqasr.demo.core;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The statistics file the phone sends to the host: the same file `myqasr plan|personalize --stats` reads
 * (myqasr.stats.save_statistics, version 4). A safetensors file: one float64 histogram per layer, and JSON
 * metadata (format, version, model id, weights sha256, clips {count, seconds}, per-layer summaries, provenance
 * {computed_on: phone, app, runtime, clips, seconds}). It holds no audio, no text and no hash of the audio.
 */
public final class StatsFile {
    public static final String FORMAT = "myqasr-stats";
    public static final String VERSION = "4";

    private StatsFile() {
    }

    /** The file's bytes. {@code provenance} is written as given, with computed_on set to "phone". */
    public static byte[] bytes(PhoneStats stats, String modelId, String weightsSha256, int clips, double seconds,
                               Map<String, Object> provenance) {
        List<String> names = new ArrayList<>(stats.layers());
        Collections.sort(names);
        StringBuilder header = new StringBuilder("{");
        long offset = 0;
        long size = 8L * stats.nBins;
        for (String name : names) {
            header.append(JsonOut.string(name)).append(":{\"dtype\":\"F64\",\"shape\":[").append(stats.nBins)
                    .append("],\"data_offsets\":[").append(offset).append(',').append(offset + size).append("]},");
            offset += size;
        }
        Map<String, Object> clipsInfo = new LinkedHashMap<>();
        clipsInfo.put("count", (long) clips);
        clipsInfo.put("seconds", Math.round(seconds * 100) / 100.0);
        Map<String, Object> prov = new LinkedHashMap<>();
        prov.put("computed_on", "phone");
        for (Map.Entry<String, Object> e : provenance.entrySet()) {
            if (!"computed_on".equals(e.getKey())) {
                prov.put(e.getKey(), e.getValue());
            }
        }
        Map<String, Object> meta = new LinkedHashMap<>();
        meta.put("format", FORMAT);
        meta.put("version", VERSION);
        meta.put("model_id", modelId);
        meta.put("weights_sha256", weightsSha256);
        meta.put("clips", JsonOut.write(clipsInfo));
        meta.put("layers", JsonOut.write(stats.summaries()));
        meta.put("provenance", JsonOut.write(prov));
        header.append("\"__metadata__\":").append(JsonOut.write(meta)).append('}');
        byte[] head = header.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (head.length + 7) / 8 * 8;                    // the data starts 8-byte aligned
        ByteArrayOutputStream out = new ByteArrayOutputStream(8 + padded + (int) offset);
        ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded);
        out.write(len.array(), 0, 8);
        out.write(head, 0, head.length);
        for (int i = head.length; i < padded; i++) {
            out.write(' ');
        }
        ByteBuffer data = ByteBuffer.allocate((int) size).order(ByteOrder.LITTLE_ENDIAN);
        for (String name : names) {
            data.clear();
            for (double v : stats.histogram(name)) {
                data.putDouble(v);
            }
            out.write(data.array(), 0, (int) size);
        }
        return out.toByteArray();
    }

    /** Writes the file completely or not at all (a temp file next to it, then a rename). */
    public static void write(File target, byte[] bytes) throws IOException {
        File tmp = new File(target.getParentFile(), "." + target.getName() + ".tmp");
        OutputStream os = new FileOutputStream(tmp);
        try {
            os.write(bytes);
        } finally {
            os.close();
        }
        if (!tmp.renameTo(target)) {
            if (!tmp.delete()) {
                throw new IOException(tmp + ": cannot rename to " + target + " nor delete");
            }
            throw new IOException(target + ": cannot rename the finished file into place");
        }
    }
}
