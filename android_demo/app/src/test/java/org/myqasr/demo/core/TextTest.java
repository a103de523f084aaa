package org.myqasr.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.util.List;
import java.util.Map;

import org.junit.Test;

/** Python's string rules (UTF-8 "replace", strip, split/join) and GPT-2 byte decoding, against text.json. */
public class TextTest {
    private static byte[] unhex(String hex) {
        byte[] b = new byte[hex.length() / 2];
        for (int k = 0; k < b.length; k++) {
            b[k] = (byte) Integer.parseInt(hex.substring(2 * k, 2 * k + 2), 16);
        }
        return b;
    }

    @Test
    public void utf8ReplaceMatchesPython() throws Exception {
        List<?> cases = (List<?>) Fixtures.json("text.json").get("utf8");
        assertTrue(cases.size() > 100);
        for (Object o : cases) {
            Map<?, ?> c = (Map<?, ?>) o;
            byte[] b = unhex((String) c.get("hex"));
            assertEquals("bytes " + c.get("hex"), c.get("text"), PyText.decodeUtf8(b, b.length));
        }
    }

    @Test
    public void whitespaceMatchesPython() throws Exception {
        for (Object o : (List<?>) Fixtures.json("text.json").get("whitespace")) {
            Map<?, ?> c = (Map<?, ?>) o;
            String s = (String) c.get("s");
            assertEquals(c.get("strip"), PyText.strip(s));
            assertEquals(c.get("collapse"), PyText.collapseSpaces(s));
        }
    }

    @Test
    public void byteTableMatchesGpt2() throws Exception {
        List<?> table = (List<?>) Fixtures.json("text.json").get("bytes_to_unicode");
        assertEquals(256, table.size());
        for (int b = 0; b < 256; b++) {
            assertEquals("byte " + b, Fixtures.integer(table.get(b)), Gpt2ByteDecoder.charOf(b));
        }
    }

    @Test
    public void gpt2DecodesBytesAndRepairsBrokenUtf8() {
        assertEquals(" hello world", Gpt2ByteDecoder.decode("ĠhelloĠworld"));
        assertEquals(" café", Gpt2ByteDecoder.decode("ĠcafÃ©"));
        assertEquals("\ufffd", Gpt2ByteDecoder.decode("Ã")); // half of a two-byte character
        assertEquals("a?b", Gpt2ByteDecoder.decode("a\u20acb")); // outside the byte table, as the SDK does
        assertEquals("\n", Gpt2ByteDecoder.decode("Ċ"));
    }
}
