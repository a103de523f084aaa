package org.myqasr.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.util.Arrays;
import java.util.Collections;

import org.junit.Test;

/** Which door a model goes through, from the names of the files beside it. */
public class ModelPathTest {
    private static ModelPath.Choice choose(String pte, String... folder) {
        return ModelPath.choose(pte, Arrays.asList(folder));
    }

    @Test
    public void aCompleteAsrRunnerExportGoesToAsrModule() {
        ModelPath.Choice c = choose("model.pte", "model.pte", "model.ptd", "preprocessor.pte", "tokenizer.json",
                "model.vocab.json");
        assertEquals(ModelPath.ASR_RUNNER, c.path);
        assertTrue(c.complete());
    }

    @Test
    public void aSingleFileExportGoesToTheGenericModule() {
        assertEquals(ModelPath.MODULE, choose("model.pte", "model.pte", "model.vocab.json").path);
        assertEquals(ModelPath.MODULE, choose("model.pte", "model.pte").path);
        // the runner's front end and tokenizer beside a single-file export with its vocabulary: still one file
        assertEquals(ModelPath.MODULE,
                choose("model.pte", "model.pte", "model.vocab.json", "preprocessor.pte", "tokenizer.json").path);
    }

    @Test
    public void onlyTheModelsOwnPtdCounts() {
        assertEquals(ModelPath.MODULE, choose("small.pte", "small.pte", "small.vocab.json", "model.ptd").path);
        assertEquals(ModelPath.ASR_RUNNER,
                choose("small.pte", "small.pte", "small.ptd", "preprocessor.pte", "tokenizer.json").path);
    }

    @Test
    public void aPartialAsrRunnerExportNamesWhatIsMissing() {
        ModelPath.Choice onlyData = choose("model.pte", "model.pte", "model.ptd");
        assertEquals(ModelPath.ASR_RUNNER, onlyData.path);
        assertEquals(Arrays.asList("preprocessor.pte", "tokenizer.json"), onlyData.missing);

        ModelPath.Choice noData = choose("model.pte", "model.pte", "preprocessor.pte", "tokenizer.json");
        assertEquals(ModelPath.ASR_RUNNER, noData.path);
        assertEquals(Collections.singletonList("model.ptd"), noData.missing);
    }
}
