package org.myqasr.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.util.Arrays;
import java.util.List;

import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/** Finding an asr-runner export's files on the phone, and leaving its preprocessor out of the model list. */
public class AsrRunnerFilesTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    private static File file(File dir, String name, int bytes) throws IOException {
        File f = new File(dir, name);
        FileOutputStream out = new FileOutputStream(f);
        out.write(new byte[bytes]);
        out.close();
        return f;
    }

    @Test
    public void theDataFileIsNamedAfterTheModel() {
        assertEquals("model.ptd", AsrRunnerFiles.dataNameFor("model.pte"));
        assertEquals("tiny-30MB.ptd", AsrRunnerFiles.dataNameFor("tiny-30MB.PTE"));
    }

    @Test
    public void findsTheFourFilesAndTheOptionalSidecar() throws Exception {
        File dir = tmp.newFolder("export");
        File pte = file(dir, "model.pte", 3_000_000);
        file(dir, "model.ptd", 2_000_000);
        file(dir, "preprocessor.pte", 100_000);
        file(dir, "tokenizer.json", 400_000);
        AsrRunnerFiles f = AsrRunnerFiles.find(pte);
        assertEquals(new File(dir, "model.ptd"), f.data);
        assertEquals(new File(dir, "preprocessor.pte"), f.preprocessor);
        assertEquals(new File(dir, "tokenizer.json"), f.tokenizer);
        assertNull(f.sidecar);
        assertEquals(5_500_000L, f.totalBytes());
        assertEquals("model.pte 3.0 MB + model.ptd 2.0 MB + preprocessor.pte 0.1 MB + tokenizer.json 0.4 MB"
                + " = 5.5 MB", f.describeSizes());
        File sidecar = file(dir, "model.vocab.json", 10);
        assertEquals(sidecar, AsrRunnerFiles.find(pte).sidecar);
    }

    @Test
    public void aSingleFileModelIsNotAnAsrRunnerExport() throws Exception {
        File dir = tmp.newFolder("module");
        File pte = file(dir, "model.pte", 10);
        file(dir, "model.vocab.json", 10);
        assertNull(AsrRunnerFiles.find(pte));
    }

    @Test
    public void aPartialExportSaysWhatToPush() throws Exception {
        File dir = tmp.newFolder("partial");
        File pte = file(dir, "model.pte", 10);
        file(dir, "model.ptd", 10);
        file(dir, "tokenizer.json", 10);
        try {
            AsrRunnerFiles.find(pte);
            fail();
        } catch (AsrException e) {
            assertEquals("model.pte is an asr-runner export (AsrModule), but " + dir.getPath() + " lacks"
                    + " preprocessor.pte: push model.pte, model.ptd, preprocessor.pte and tokenizer.json of the same"
                    + " export into one folder.", e.getMessage());
        }
    }

    @Test
    public void thePreprocessorIsNeverAModel() {
        List<File> ptes = Arrays.asList(new File("a/preprocessor.pte"), new File("a/model.pte"),
                new File("b/Preprocessor.pte"), new File("b/model.pte"));
        assertEquals(Arrays.asList(new File("a/model.pte"), new File("b/model.pte")),
                AsrRunnerFiles.modelCandidates(ptes));
        assertEquals(new File("x/model.pte"), AsrRunnerFiles.pickedModel(Arrays.asList(new File("x/preprocessor.pte"),
                new File("x/model.ptd"), new File("x/model.pte"), new File("x/tokenizer.json"))));
        assertNull(AsrRunnerFiles.pickedModel(Arrays.asList(new File("x/model.ptd"), new File("x/preprocessor.pte"))));
    }

    @Test
    public void subfoldersFollowTheirParents() throws Exception {
        File top = tmp.newFolder("files");
        File runner = new File(top, "asr-runner");
        File bench = new File(top, "bench_clips");
        assertTrue(runner.mkdir() && bench.mkdir());
        file(top, "model.pte", 1);
        File other = tmp.newFolder("models");
        assertEquals(Arrays.asList(top, other, runner, bench),
                AsrRunnerFiles.withSubfolders(Arrays.asList(top, null, other)));
    }
}
