package org.myqasr.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.fail;

import org.junit.Test;

public class ProcStatusTest {
    /** The shape of an Android (Linux 5.x) /proc/self/status, abridged. */
    static final String STATUS = "Name:\torg.myqasr.demo\nUmask:\t0077\nState:\tR (running)\nTgid:\t12345\n"
            + "VmPeak:\t16781340 kB\nVmSize:\t16512340 kB\nVmLck:\t       0 kB\nVmPin:\t       0 kB\n"
            + "VmHWM:\t  412364 kB\nVmRSS:\t  398120 kB\nRssAnon:\t  201244 kB\nThreads:\t31\n";

    @Test
    public void readsPeakAndCurrentRss() {
        assertEquals(412364, ProcStatus.kb(STATUS, ProcStatus.PEAK_RSS));
        assertEquals(398120, ProcStatus.kb(STATUS, ProcStatus.RSS));
        assertEquals("a padded zero", 0, ProcStatus.kb(STATUS, "VmLck"));
    }

    @Test
    public void missingFieldIsMinusOneAndGarbageIsAnError() {
        assertEquals(-1, ProcStatus.kb("Name:\tx\nThreads:\t3\n", ProcStatus.PEAK_RSS));
        assertEquals(-1, ProcStatus.kb("", ProcStatus.PEAK_RSS));
        try {
            ProcStatus.kb("VmHWM:\t  12x4 kB\n", ProcStatus.PEAK_RSS);
            fail();
        } catch (IllegalArgumentException e) {
            assertEquals("/proc/self/status: cannot read the number in 'VmHWM:\t  12x4 kB'", e.getMessage());
        }
        try {
            ProcStatus.kb("VmHWM:\t  1234 MB\n", ProcStatus.PEAK_RSS);
            fail();
        } catch (IllegalArgumentException e) {
            assertEquals("/proc/self/status: VmHWM is not in kB: 'VmHWM:\t  1234 MB'", e.getMessage());
        }
    }
}
