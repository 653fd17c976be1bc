/**
 * Training text for the BPE tokenizer: English prose, code and some non-Latin scripts. Part of the model
 * definition; editing it changes every tokenizer (and therefore every model folder).
 */
export const BPE_CORPUS = String.raw`The quick brown fox jumps over the lazy dog. The dog was not amused, and the fox ran back into the forest.
Once upon a time there was a small town by the sea. Every morning the fishermen went out on their boats, and every evening they came back with the catch of the day. The children of the town would run down to the harbour to meet them, and the old men would sit on the benches and tell stories about the storms of the past.
It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. However little known the feelings or views of such a man may be on his first entering a neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he is considered the rightful property of some one or other of their daughters.
In the beginning the network was small: a few browsers, one coordinator, and a model that fit in a single file. Each tab that joined the network could run the model, answer a request, and earn a little for the work it did. When a tab answered, another tab would sometimes check the answer, and the two would agree or the coordinator would decide.
What is the capital of France? The capital of France is Paris. What is the largest planet in the solar system? The largest planet is Jupiter. How many days are there in a week? There are seven days in a week.
Please write a short poem about the ocean. The ocean is deep and the ocean is wide, it carries the ships and it turns with the tide.
You are a helpful assistant. Answer the question as clearly as you can, and say so when you do not know the answer.
The weather today is sunny with a light breeze from the west. Tomorrow there will be rain in the morning and clouds in the afternoon, so remember to take an umbrella when you leave the house.
She opened the door, looked at the letter on the table, and smiled. It had been a long time since anyone had written to her, and she read every word twice before she put it back in the envelope.
To install the package, run the install command and then start the server. If the server does not start, check the logs for errors and make sure that the port is not already in use by another process.

function add(a: number, b: number): number {
  return a + b;
}

export async function fetchJson(url: string): Promise<unknown> {
  const response = await fetch(url);
  if (!response.ok) {
    throw new Error("request failed: " + response.status);
  }
  return response.json();
}

const items = [1, 2, 3, 4, 5].map((x) => x * 2).filter((x) => x > 4);
for (let i = 0; i < items.length; i++) {
  console.log(i, items[i]);
}

def fibonacci(n):
    """Return the n-th Fibonacci number."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a

class Stack:
    def __init__(self):
        self.items = []

    def push(self, item):
        self.items.append(item)

    def pop(self):
        return self.items.pop()

if __name__ == "__main__":
    print(fibonacci(10))

SELECT id, name, created_at FROM users WHERE active = 1 ORDER BY created_at DESC LIMIT 10;
{"model": "dolphin-tiny", "messages": [{"role": "user", "content": "Hello!"}], "max_tokens": 16}

Numbers: 0 1 2 3 4 5 6 7 8 9 10 42 100 2024 3.14159 1e-5

人工智能正在改变世界。我们的网络让每个浏览器都可以运行模型。今天天气很好，我们去公园散步吧。
Искусственный интеллект меняет мир. Каждый браузер может запустить модель и помочь сети. Привет, как дела?
الذكاء الاصطناعي يغير العالم. يمكن لكل متصفح أن يشغل النموذج ويساعد الشبكة. مرحبا، كيف حالك؟
Les modèles de langue sont entraînés sur beaucoup de texte. Der schnelle braune Fuchs springt über den faulen Hund.
日本語のテキストも少し含まれています。こんにちは、世界！
Emoji: 🐬 🌊 🚀 ✨ 👍 😊 ❤️
`;
