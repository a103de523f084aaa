package org.myqasr.demo.core;

/** Turns mono PCM at the vocabulary's sample rate into text; one per loaded model. */
public interface Transcriber {
    Transcript transcribe(float[] pcm) throws AsrException;
}
