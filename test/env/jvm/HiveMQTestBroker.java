// HiveMQ CE for the interop suite (test/lib/brokers.ts): the embedded broker with one extension that lets
// every client connect, as the broker's own allow-all extension does (HiveMQ CE refuses every client while
// no security extension is installed). Compiled once by test/env/fetch-jvm-tool.sh.
// Usage: java -cp 'lib/*:classes' HiveMQTestBroker HOME (HOME/conf/config.xml; data and extensions beside it)

import com.hivemq.embedded.EmbeddedExtension;
import com.hivemq.embedded.EmbeddedHiveMQ;
import com.hivemq.extension.sdk.api.ExtensionMain;
import com.hivemq.extension.sdk.api.auth.SimpleAuthenticator;
import com.hivemq.extension.sdk.api.parameter.ExtensionStartInput;
import com.hivemq.extension.sdk.api.parameter.ExtensionStartOutput;
import com.hivemq.extension.sdk.api.parameter.ExtensionStopInput;
import com.hivemq.extension.sdk.api.parameter.ExtensionStopOutput;
import com.hivemq.extension.sdk.api.services.Services;
import java.nio.file.Path;

public final class HiveMQTestBroker {
    public static void main(String[] args) throws Exception {
        Path home = Path.of(args[0]);
        ExtensionMain allowAll = new ExtensionMain() {
            @Override
            public void extensionStart(ExtensionStartInput in, ExtensionStartOutput out) {
                SimpleAuthenticator accept = (auth, result) -> result.authenticateSuccessfully();
                Services.securityRegistry().setAuthenticatorProvider(provider -> accept);
            }

            @Override
            public void extensionStop(ExtensionStopInput in, ExtensionStopOutput out) {}
        };
        EmbeddedExtension extension = EmbeddedExtension.builder()
                .withId("mqtt2pg-test-allow-all")
                .withName("mqtt2pg test: allow all clients")
                .withVersion("1")
                .withAuthor("mqtt2pg")
                .withPriority(0)
                .withStartPriority(1000)
                .withExtensionMain(allowAll)
                .build();
        EmbeddedHiveMQ broker = EmbeddedHiveMQ.builder()
                .withConfigurationFolder(home.resolve("conf"))
                .withDataFolder(home.resolve("data"))
                .withExtensionsFolder(home.resolve("extensions"))
                .withEmbeddedExtension(extension)
                .build();
        broker.start().join();
        System.out.println("mqtt2pg: HiveMQ started");
        Thread.currentThread().join(); // until the test kills the process
    }
}
