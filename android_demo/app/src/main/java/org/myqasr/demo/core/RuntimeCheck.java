package org.myqasr.demo.core;

/**
 * Whether this APK carries the ExecuTorch runtime. The Gradle build bundles {@code org.pytorch:executorch-android};
 * the Gradle-free CI build compiles against its API only, and then the app must say so instead of crashing.
 */
public final class RuntimeCheck {
    /** The ExecuTorch Android runtime the Gradle build pins: the pip executorch version myqasr exports with. */
    public static final String EXECUTORCH_VERSION = "1.5.1";

    private RuntimeCheck() {
    }

    /** Null when the ExecuTorch classes are present, else the sentence the app shows. */
    public static String missingReason(ClassLoader loader) {
        try {
            Class.forName("org.pytorch.executorch.Module", false, loader);
            return null;
        } catch (ClassNotFoundException e) {
            return "The ExecuTorch runtime is not bundled in this APK (it was built by the Gradle-free CI script)."
                    + " Build the app in Android Studio (it adds org.pytorch:executorch-android:" + EXECUTORCH_VERSION
                    + ") to transcribe. Picking, recording and reading clips work here.";
        }
    }
}
