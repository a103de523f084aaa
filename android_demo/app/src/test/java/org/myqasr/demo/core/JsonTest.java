package org.myqasr.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.fail;

import java.util.Arrays;
import java.util.List;
import java.util.Map;

import org.junit.Test;

public class JsonTest {
    @Test
    public void parsesValues() {
        Map<?, ?> m = (Map<?, ?>) Json.parse(" {\"a\": [1, -2, 3.5, 1e3, true, false, null], \"b\": {\"c\": \"x\\u00e9\\ud83d\\ude00\\n\\\"\"}} ");
        List<?> a = (List<?>) m.get("a");
        assertEquals(Arrays.<Object>asList(1L, -2L, 3.5, 1000.0, true, false, null), a);
        assertEquals("xé😀\n\"", ((Map<?, ?>) m.get("b")).get("c"));
        assertNull(Json.parse("null"));
        assertEquals(Arrays.asList(), Json.parse("[]"));
    }

    @Test
    public void rejectsBadJson() {
        for (String bad : new String[] {"", "{", "[1,]", "{\"a\" 1}", "\"abc", "tru", "[1] 2", "{'a': 1}", "-"}) {
            try {
                Json.parse(bad);
                fail("accepted " + bad);
            } catch (IllegalArgumentException expected) {
                // the message names the character offset
            }
        }
    }
}
