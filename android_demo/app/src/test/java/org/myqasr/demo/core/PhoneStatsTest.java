package org.myqasr.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.junit.Test;

/**
 * The phone's aggregation on what the ExecuTorch runtime returned: fixtures/phonestats/ holds the statistics
 * program's description (stats.layers.json), each clip's encoder call and summed decoder calls as the host runtime
 * computed them on the sample user (myqasr_export.phonestats.write_call_fixtures), and the HOST pass's summaries of
 * the same clips (host.json, myqasr.stats.collect_statistics). The Java aggregation must give the host's numbers
 * within the stated tolerances, and the file it writes is read by `myqasr plan --stats` (tests/test_phone_stats.py
 * runs this test and reads the file: -Dmyqasr.phonestats.out=DIR, -Dmyqasr.phonestats.fixtures=DIR for more sets).
 */
public class PhoneStatsTest {
    static final double MEDIAN_TOL = 0.01;       // the contract: median within 1 %
    static final double RANGE_TOL = 1e-3;        // abs_max, input_abs_max (the static activation ranges), mean, std

    static List<File> fixtureSets() {
        List<File> sets = new ArrayList<>();
        sets.add(Fixtures.file("phonestats"));
        String more = System.getProperty("myqasr.phonestats.fixtures");
        if (more != null && !more.isEmpty()) {
            sets.add(new File(more));
        }
        return sets;
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> json(File f) throws IOException {
        byte[] b = Fixtures.bytes(f);
        if (f.getName().endsWith(".gz")) {
            b = Fixtures.readAll(new java.util.zip.GZIPInputStream(new java.io.ByteArrayInputStream(b)));
        }
        return (Map<String, Object>) Json.parse(new String(b, StandardCharsets.UTF_8));
    }

    static List<File> calls(File set) {
        File[] files = set.listFiles((d, n) -> n.startsWith("clip") && n.endsWith(".json.gz"));
        assertTrue(set + " holds no clip calls", files != null && files.length >= 2);
        List<File> out = new ArrayList<>(Arrays.asList(files));
        Collections.sort(out);
        return out;
    }

    static double[] doubles(Object list) {
        List<?> l = (List<?>) list;
        double[] out = new double[l.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = ((Number) l.get(i)).doubleValue();
        }
        return out;
    }

    @SuppressWarnings("unchecked")
    static void addCall(PhoneStats stats, Map<String, Object> call) {
        assertEquals("myqasr-stats-calls", call.get("format"));
        for (Object o : (List<Object>) call.get("rows")) {
            Map<String, Object> row = (Map<String, Object>) o;
            stats.addRow((String) row.get("layer"), Fixtures.ints(row.get("bins")), doubles(row.get("counts")),
                    doubles(row.get("moments")));
        }
    }

    static PhoneStats aggregate(File set, List<File> order) throws IOException {
        PhoneStats stats = PhoneStats.forProgram(json(new File(set, "stats.layers.json")));
        for (File f : order) {
            addCall(stats, json(f));
        }
        return stats;
    }

    static double rel(double a, double b) {
        return Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);
    }

    @Test
    @SuppressWarnings("unchecked")
    public void aggregationGivesTheHostPassNumbers() throws IOException {
        for (File set : fixtureSets()) {
            PhoneStats stats = aggregate(set, calls(set));
            Map<String, Object> host = (Map<String, Object>) json(new File(set, "host.json")).get("layers");
            assertEquals(set + ": layers", host.keySet(), new LinkedHashMap<>(stats.summaries()).keySet());
            for (String layer : stats.layers()) {
                Map<String, Object> h = (Map<String, Object>) host.get(layer);
                Map<String, Object> p = stats.summary(layer);
                long hc = ((Number) h.get("count")).longValue();
                assertTrue(set + " " + layer + ": count " + p.get("count") + " vs host " + hc,
                        rel((Long) p.get("count"), hc) <= MEDIAN_TOL);
                double m = rel((Double) p.get("median"), ((Number) h.get("median")).doubleValue());
                assertTrue(set + " " + layer + ": median off by " + m, m <= MEDIAN_TOL);
                for (String k : new String[] {"abs_max", "input_abs_max", "mean", "std"}) {
                    double r = rel((Double) p.get(k), ((Number) h.get(k)).doubleValue());
                    assertTrue(set + " " + layer + ": " + k + " off by " + r, r <= RANGE_TOL);
                }
            }
        }
    }

    @Test
    public void aggregationDoesNotDependOnTheOrderOfTheClips() throws IOException {
        File set = Fixtures.file("phonestats");
        List<File> order = calls(set);
        PhoneStats forward = aggregate(set, order);
        List<File> reversed = new ArrayList<>(order);
        Collections.reverse(reversed);
        PhoneStats backward = aggregate(set, reversed);
        for (String layer : forward.layers()) {
            assertEquals(layer, forward.summary(layer).get("median"), backward.summary(layer).get("median"));
            assertEquals(layer, forward.summary(layer).get("count"), backward.summary(layer).get("count"));
            assertEquals(layer, forward.summary(layer).get("abs_max"), backward.summary(layer).get("abs_max"));
        }
        PhoneStats first = aggregate(set, order.subList(0, 2));
        String layer = forward.layers().get(0);
        assertTrue("more clips, more counts", (Long) forward.summary(layer).get("count")
                > (Long) first.summary(layer).get("count"));
    }

    @Test
    public void quantileReadsTheBinsLikeTheHost() {
        // 100 values in one bin: the median is half-way through it (log-linear); 2^0 is the start of bin 24 * 256
        PhoneStats s = new PhoneStats(Collections.singletonList("l"), -24, 256, 40 * 256);
        int[] bins = {24 * 256};
        s.addRow("l", bins, new double[] {100}, new double[] {100, 100, 100, 1.001, -1.0, 2.0});
        assertEquals(Math.pow(2.0, 0.5 / 256), s.quantile("l", 0.5), 1e-15);
        assertEquals(1.001, (Double) s.summary("l").get("abs_max"), 0.0);
        assertEquals(2.0, (Double) s.summary("l").get("input_abs_max"), 0.0);
        try {
            s.addRow("other", bins, new double[] {1}, new double[6]);
            fail("a layer that the program does not list must be refused");
        } catch (IllegalArgumentException expected) {
            assertTrue(expected.getMessage().contains("other"));
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    public void writesTheStatisticsFileTheHostReads() throws IOException, AsrException {
        for (File set : fixtureSets()) {
            PhoneStats stats = aggregate(set, calls(set));
            Map<String, Object> program = json(new File(set, "stats.layers.json"));
            Map<String, Object> host = json(new File(set, "host.json"));
            Map<String, Object> provenance = new LinkedHashMap<>();
            provenance.put("app", "org.myqasr.demo 0.1 (JUnit)");
            provenance.put("runtime", "ExecuTorch runtime outputs from fixtures");
            provenance.put("clips", host.get("clips"));
            provenance.put("seconds", host.get("seconds"));
            byte[] bytes = StatsFile.bytes(stats, (String) program.get("model_id"),
                    (String) program.get("weights_sha256"), ((Number) host.get("clips")).intValue(),
                    ((Number) host.get("seconds")).doubleValue(), provenance);
            long headerLen = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            Map<String, Object> header = (Map<String, Object>) Json.parse(
                    new String(bytes, 8, (int) headerLen, StandardCharsets.UTF_8));
            Map<String, Object> meta = (Map<String, Object>) header.get("__metadata__");
            assertEquals("4", meta.get("version"));
            Map<String, Object> prov = (Map<String, Object>) Json.parse((String) meta.get("provenance"));
            assertEquals("phone", prov.get("computed_on"));
            Map<String, Object> clips = (Map<String, Object>) Json.parse((String) meta.get("clips"));
            assertFalse("no hash of the audio leaves the phone", clips.containsKey("sha256"));
            assertEquals(8 + headerLen + 8L * stats.nBins * stats.layers().size(), bytes.length);
            String out = System.getProperty("myqasr.phonestats.out");
            File dir = out != null && !out.isEmpty() ? new File(out) : new File(System.getProperty("java.io.tmpdir"));
            File written = new File(dir, set.getName() + ".stats");
            StatsFile.write(written, bytes);
            // what the personalize screen shows before sharing: read back from this real tiny.en file
            StatsFileSummary summary = StatsFileSummary.read(written);
            assertEquals(bytes.length, summary.bytes);
            assertEquals(stats.layers().size(), summary.tensors.size());
            assertEquals("F64 [" + stats.nBins + "]", summary.tensorKind());
            assertEquals(new ArrayList<>(meta.keySet()), new ArrayList<>(summary.metadata.keySet()));
            assertEquals(prov, summary.provenance);
            assertTrue(summary.describe(), summary.describe().contains("- " + stats.layers().size()
                    + " histograms, one per layer"));
        }
    }
}
