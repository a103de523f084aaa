package org.myqasr.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.fail;

import org.junit.Test;

public class PercentilesTest {
    @Test
    public void medianOfOddEvenAndSingleCounts() {
        assertEquals(3.0, Percentiles.median(new double[] {5, 1, 3}), 0);
        assertEquals(2.5, Percentiles.median(new double[] {4, 1, 3, 2}), 0);
        assertEquals(7.0, Percentiles.median(new double[] {7}), 0);
    }

    @Test
    public void p90IsTheNearestRankOnUnsortedInput() {
        double[] ten = {10, 1, 9, 2, 8, 3, 7, 4, 6, 5};
        assertEquals(9.0, Percentiles.nearestRank(ten, 90), 0);    // ceil(0.9 * 10) = 9th smallest
        assertEquals(5.0, Percentiles.nearestRank(ten, 50), 0);    // nearest rank: 5th smallest, not 5.5
        assertEquals(10.0, Percentiles.nearestRank(ten, 100), 0);
        assertEquals(1.0, Percentiles.nearestRank(ten, 1), 0);
        assertEquals(50.0, Percentiles.nearestRank(new double[] {40, 10, 50, 20, 30}, 90), 0);  // ceil(4.5) = 5th
        assertEquals(20.0, Percentiles.nearestRank(new double[] {10, 20}, 90), 0);              // ceil(1.8) = 2nd
        assertEquals(4.0, Percentiles.nearestRank(new double[] {4}, 90), 0);
        double[] sixteen = new double[16];
        for (int i = 0; i < 16; i++) {
            sixteen[i] = 16 - i;
        }
        assertEquals("ceil(14.4) = 15th, not rounded to the 14th", 15.0, Percentiles.nearestRank(sixteen, 90), 0);
        double[] input = {3, 1, 2};
        Percentiles.nearestRank(input, 90);
        Percentiles.median(input);
        assertArrayEquals("the caller's array is not sorted in place", new double[] {3, 1, 2}, input, 0);
    }

    @Test
    public void emptyInputAndBadPercentileAreRefused() {
        try {
            Percentiles.median(new double[0]);
            fail();
        } catch (IllegalArgumentException e) {
            assertEquals("no values to take a percentile of", e.getMessage());
        }
        try {
            Percentiles.nearestRank(new double[] {1}, 0);
            fail();
        } catch (IllegalArgumentException e) {
            assertEquals("percentile must be in (0, 100], got 0.0", e.getMessage());
        }
    }
}
